"""Curation settings: the ``Settings`` dataclass (each field is also a ``unifer data curate-cot`` option, with its
help in the field's metadata) and its validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from unifer.images import DEFAULT_IMAGE_SIZE

#: Settings that decide what the teacher is asked: a resume must not change them (caps and dedup may change).
SAMPLING_SETTINGS = ("samples_per_item", "temperature", "top_p", "max_new_tokens", "image_size", "seed")


def _option(default: Any, help: str, **argparse_options: Any) -> Any:
    """A field whose metadata is what ``HfArgumentParser`` passes to ``add_argument`` (help, metavar)."""
    return field(default=default, metadata={"help": help, **argparse_options})


@dataclass
class Settings:
    """Curation knobs; each is also the CLI option of the same name (``--samples-per-item`` or
    ``--samples_per_item``)."""

    config: str | None = _option(None, "the input's RLVR config (if not given: its only config, else 'rlvr')")
    backend: Literal["transformers", "vllm"] = _option("transformers", "engine of a local teacher")
    model_name: str | None = _option(
        None, "served model name, for an endpoint teacher (if not given: the first of GET /models)"
    )
    samples_per_item: int = _option(4, "teacher samples per item", metavar="K")
    max_per_item: int | None = _option(None, "keep at most N samples per item", metavar="N")
    balance_classes: bool = _option(False, "keep as many items per class as the smallest class has")
    max_per_class: int | None = _option(
        None, "keep at most N items per class (and stop sampling a class once it has N)", metavar="N"
    )
    dedup: bool = _option(False, "drop near-identical reasoning within an item")
    dedup_threshold: float = _option(
        0.9, "word-3-shingle Jaccard similarity of the think text at or above which a sample is a duplicate"
    )
    temperature: float = _option(0.8, "sampling temperature")
    top_p: float = _option(0.95, "nucleus sampling: the probability mass sampled from")
    max_new_tokens: int = _option(1024, "generation budget per sample, in tokens")
    image_size: int = _option(DEFAULT_IMAGE_SIZE, "side of the (square) image sent, in pixels")
    concurrency: int = _option(16, "items in flight: parallel requests, or items per local generation batch")
    retries: int = _option(
        5, "endpoint retries per request after the first attempt (the openai SDK's, with its backoff)"
    )
    timeout: float = _option(300.0, "endpoint seconds per request")
    limit: int | None = _option(
        None, "curate only the first N items of the curation order (a class-balanced random sample)", metavar="N"
    )
    api_key_env: str | None = _option(None, "environment variable holding the endpoint's API key", metavar="VAR")
    seed: int = _option(0, "item order and local sampling")

    def __post_init__(self):
        bad = [
            name
            for name in ("samples_per_item", "max_new_tokens", "image_size", "concurrency", "timeout", "max_per_item")
            if getattr(self, name) is not None and getattr(self, name) <= 0
        ]
        bad += [name for name in ("retries", "limit", "max_per_class") if (getattr(self, name) or 0) < 0]
        if not 0 < self.dedup_threshold <= 1:
            bad.append("dedup_threshold")
        if bad:
            raise ValueError(
                f"Invalid curation settings: {', '.join(bad)} (counts and sizes must be positive, "
                "retries/limit/caps non-negative, dedup_threshold in (0, 1])."
            )
