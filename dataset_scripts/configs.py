"""Every ``unifer data`` command's options, in one place (open-r1's ``configs.py`` style).

Each field is a command-line option: ``HfArgumentParser`` gives it both spellings (``--n-per-class`` and
``--n_per_class``) and its help from ``metadata``; ``__post_init__`` checks the values once, for the command line
and for library callers alike, raising ``ValueError`` that names the option. A build's config renders the command
that gives it back (:meth:`CommandConfig.to_command_line`): that is what a dataset card records.

* :class:`FerbenchBuildConfig`, :class:`CotBuildConfig`, :class:`RlvrBuildConfig`, :class:`SynferBuildConfig`:
  ``unifer data build ferbench|cot|rlvr|synfer``;
* :class:`IngestConfig`: ``unifer data ingest``;
* :class:`Settings` (the curation knobs) and :class:`CurateCotConfig` (plus input, teacher, output):
  ``unifer data curate-cot``;
* :class:`PublishOptions`: where a built folder goes (``--push-to-hub``, ``--public``, ``--overwrite``); they do not
  change what is built, so no card records them.

This module imports nothing heavy: the command line builds its parser from it at start-up.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

from unifer.configs import check_options, option_name
from unifer.images import DEFAULT_IMAGE_SIZE
from unifer.labels import SUBSETS, fold
from unifer.prompts import REASONING_MAX_NEW_TOKENS

#: Curation settings that decide what the teacher is asked: a resume must not change them (caps and dedup may).
SAMPLING_SETTINGS = ("samples_per_item", "temperature", "top_p", "max_new_tokens", "image_size", "seed")
#: What ``unifer data ingest`` writes: benchmark rows (split ``test``) or RLVR training rows (split ``train``).
INGEST_FORMATS = ("ferbench", "rlvr")


def _default(spec) -> Any:
    if spec.default_factory is not MISSING:
        return spec.default_factory()
    return spec.default


class CommandConfig:
    """Base of the command configs: paths become strings and tuples lists (so a config from Python equals the one
    parsed from its own command line), and :meth:`to_command_line` renders the command."""

    #: The command these options follow, e.g. ``unifer data build synfer``.
    COMMAND: ClassVar[str]

    def __post_init__(self):
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, os.PathLike):
                setattr(self, spec.name, os.fspath(value))
            elif isinstance(value, tuple):
                setattr(self, spec.name, list(value))
        checks = getattr(super(), "__post_init__", None)  # a config dataclass mixed in after this one
        if checks is not None:
            checks()

    def to_command_line(self) -> str:
        """The command that parses back into this config: required options first, then every option whose value
        differs from its default (a ``True`` default set to ``False`` as ``--no-<option>``).

        Example:
            >>> SynferBuildConfig(out="synfer", n_per_class=2, emotions=["happy", "sad"]).to_command_line()
            'unifer data build synfer --out synfer --n-per-class 2 --test-per-class 1 --emotions happiness sadness'
        """
        argv = shlex.split(self.COMMAND)
        specs = sorted(fields(self), key=lambda spec: _default(spec) is not MISSING)  # stable: required first
        for spec in specs:
            value, default = getattr(self, spec.name), _default(spec)
            if value == default:
                continue
            flag = option_name(spec.name)
            if isinstance(value, bool):
                argv.append(flag if value else f"--no-{flag.removeprefix('--')}")
            elif isinstance(value, list):
                argv += [flag, *map(str, value)]
            else:
                argv += [flag, str(value)]
        return shlex.join(argv)


@dataclass
class PublishOptions:
    """Where a built folder goes besides ``--out``; not part of what is built (no card records them)."""

    push_to_hub: str | None = field(
        default=None,
        metadata={"help": "upload the folder to this Hub dataset repository (private by default)", "metavar": "REPO"},
    )
    public: bool = field(
        default=False, metadata={"help": "create the Hub repository as public (check the images' licences first)"}
    )
    overwrite: bool = field(default=False, metadata={"help": "replace the dataset in a non-empty --out folder"})


@dataclass
class FerbenchBuildConfig(CommandConfig):
    """``unifer data build ferbench``: FERBench from the official index and your licensed images."""

    COMMAND: ClassVar[str] = "unifer data build ferbench"

    images_root: str = field(
        metadata={"help": "folder holding RAF-DB/, FERPlus/, AffectNet/, SFEW-2.0/ as in the official paths"}
    )
    out: str = field(metadata={"help": "output folder"})
    index_dir: str | None = field(
        default=None, metadata={"help": "local copies of the official *_qa.json files (default: download)"}
    )
    subsets: list[str] = field(
        default_factory=lambda: list(SUBSETS),
        metadata={"help": "subsets to build (in paper order)", "choices": SUBSETS, "metavar": "SUBSET"},
    )
    allow_missing: bool = field(
        default=False, metadata={"help": "skip missing/unreadable images (listed in skipped.jsonl) instead of failing"}
    )

    def __post_init__(self):
        super().__post_init__()
        unknown = [s for s in self.subsets if s not in SUBSETS]
        if unknown or not self.subsets:
            raise ValueError(f"--subsets {unknown or '(none)'}: choose from {', '.join(SUBSETS)}.")
        self.subsets = [s for s in SUBSETS if s in self.subsets]


@dataclass
class RlvrBuildConfig(CommandConfig):
    """``unifer data build rlvr``: UniFER-RLVR-360K from the released JSON and your images."""

    COMMAND: ClassVar[str] = "unifer data build rlvr"
    #: The ``cot_rlvr.KINDS`` entry this config builds.
    KIND: ClassVar[str] = "rlvr"

    json: str = field(metadata={"help": "released JSON list or JSONL with image_path, problem, solution"})
    images_root: str = field(metadata={"help": "folder the rows' image_path values are under"})
    out: str = field(metadata={"help": "output folder"})


@dataclass
class CotBuildConfig(CommandConfig):
    """``unifer data build cot``: UniFER-CoT-230K from the released JSON and your images."""

    COMMAND: ClassVar[str] = "unifer data build cot"
    KIND: ClassVar[str] = "cot"

    json: str = field(metadata={"help": "released JSON list or JSONL with image_path, question, response"})
    images_root: str = field(metadata={"help": "folder the rows' image_path values are under"})
    out: str = field(metadata={"help": "output folder"})
    answer_filter: bool = field(
        default=True,
        metadata={
            "help": "refuse responses that name no single candidate in one <answer> block; --no-answer-filter keeps them (the "
            "official SFT trained on every released row), and the summary and card count them"
        },
    )


@dataclass
class SynferBuildConfig(CommandConfig):
    """``unifer data build synfer``: SYNTHETIC SynFER faces as ``benchmark``, ``cot`` and ``rlvr`` configs.

    Resolved on construction, so that a card records exactly what was drawn: ``test_per_class`` (default
    ``n_per_class // 4``, at least 1) and ``emotions`` (canonical names in canonical order; default all eight).
    """

    COMMAND: ClassVar[str] = "unifer data build synfer"

    out: str = field(metadata={"help": "output folder"})
    n_per_class: int = field(metadata={"help": "training faces per emotion (cot and rlvr)"})
    test_per_class: int | None = field(
        default=None, metadata={"help": "benchmark faces per emotion (default: n-per-class // 4, at least 1)"}
    )
    seed: int = field(
        default=0, metadata={"help": "seed of the face streams (benchmark faces come from stream seed + 1)"}
    )
    size: int = field(default=224, metadata={"help": "image side in pixels"})
    emotions: list[str] | None = field(
        default=None, metadata={"help": "emotions to draw, names or aliases (default: all eight)"}
    )
    num_proc: int | None = field(default=None, metadata={"help": "drawing processes (default: CPU count, at most 8)"})
    style: str = field(
        default="default",
        metadata={"help": "SynFER look: default, or bold (the quickstart's 56 px faces: bigger cues, no nuisance)"},
    )

    def __post_init__(self):
        from unifer.data.synfer import STYLES
        from unifer.data.synfer_dataset import synfer_emotions

        super().__post_init__()
        check_options(self, {"n_per_class": 1, "size": 1, "num_proc": 1, "test_per_class": 0})
        if self.style not in STYLES:
            raise ValueError(f"--style {self.style!r}: choose from {', '.join(STYLES)}.")
        self.emotions = list(synfer_emotions(self.emotions))
        if self.test_per_class is None:
            self.test_per_class = max(1, self.n_per_class // 4)


@dataclass
class IngestConfig(CommandConfig):
    """``unifer data ingest``: your labelled images as a FERBench-format benchmark or as RLVR rows.

    ``name`` is resolved on construction (default: the images folder's name)."""

    COMMAND: ClassVar[str] = "unifer data ingest"

    images_root: str = field(metadata={"help": "folder with one sub-folder per class (or see --csv)"})
    out: str = field(metadata={"help": "output folder"})
    csv: str | None = field(
        default=None, metadata={"help": "CSV of path,label rows (paths relative to --images-root) instead of folders"}
    )
    label_map: str | None = field(
        default=None,
        metadata={
            "help": "JSON file or 'folder=emotion,folder=emotion' (default: folder names read as emotions or their aliases)"
        },
    )
    name: str | None = field(
        default=None, metadata={"help": "dataset / config name (default: the images folder's name)"}
    )
    format: str = field(
        default="ferbench",
        metadata={
            "help": "benchmark rows (split test) or RLVR training rows (split train)",
            "choices": INGEST_FORMATS,
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.format not in INGEST_FORMATS:
            raise ValueError(f"--format {self.format!r}: choose one of {', '.join(INGEST_FORMATS)}.")
        self.name = self.name or fold(Path(self.images_root).resolve().name).replace(" ", "_")


@dataclass
class Settings:
    """Curation knobs; each is also the ``unifer data curate-cot`` option of the same name."""

    config: str | None = field(
        default=None, metadata={"help": "the input's RLVR config (if not given: its only config, else 'rlvr')"}
    )
    backend: Literal["transformers", "vllm"] = field(
        default="transformers", metadata={"help": "engine of a local teacher"}
    )
    model_name: str | None = field(
        default=None,
        metadata={"help": "served model name, for an endpoint teacher (if not given: the first of GET /models)"},
    )
    samples_per_item: int = field(default=4, metadata={"help": "teacher samples per item", "metavar": "K"})
    max_per_item: int | None = field(
        default=None, metadata={"help": "keep at most N samples per item", "metavar": "N"}
    )
    balance_classes: bool = field(
        default=False, metadata={"help": "keep as many items per class as the smallest class has"}
    )
    max_per_class: int | None = field(
        default=None,
        metadata={"help": "keep at most N items per class (and stop sampling a class once it has N)", "metavar": "N"},
    )
    dedup: bool = field(default=False, metadata={"help": "drop near-identical reasoning within an item"})
    dedup_threshold: float = field(
        default=0.9,
        metadata={
            "help": "word-3-shingle Jaccard similarity of the think text at or above which a sample is a duplicate"
        },
    )
    temperature: float = field(default=0.8, metadata={"help": "sampling temperature"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling: the probability mass sampled from"})
    max_new_tokens: int = field(
        default=REASONING_MAX_NEW_TOKENS, metadata={"help": "generation budget per sample, in tokens"}
    )
    image_size: int = field(
        default=DEFAULT_IMAGE_SIZE, metadata={"help": "side of the (square) image sent, in pixels"}
    )
    concurrency: int = field(
        default=16, metadata={"help": "items in flight: parallel requests, or items per local generation batch"}
    )
    retries: int = field(
        default=5,
        metadata={"help": "endpoint retries per request after the first attempt (the openai SDK's, with its backoff)"},
    )
    timeout: float = field(default=300.0, metadata={"help": "endpoint seconds per request"})
    limit: int | None = field(
        default=None,
        metadata={
            "help": "curate only the first N items of the curation order (a class-balanced random sample)",
            "metavar": "N",
        },
    )
    api_key_env: str | None = field(
        default=None, metadata={"help": "environment variable holding the endpoint's API key", "metavar": "VAR"}
    )
    seed: int = field(default=0, metadata={"help": "item order and local sampling"})

    def __post_init__(self):
        # --limit at least 1, as everywhere (eval's, ingest's): 0 items is no run, not a quick one.
        counts = ("samples_per_item", "max_new_tokens", "image_size", "concurrency", "max_per_item", "limit")
        check_options(
            self,
            {**dict.fromkeys(counts, 1), **dict.fromkeys(("retries", "max_per_class"), 0)},
            positive=["timeout"],
            fractions=["dedup_threshold"],
        )

    def settings(self) -> dict[str, Any]:
        """The knobs alone, as a dict (also for a :class:`CurateCotConfig`, without its input and output)."""
        return {spec.name: getattr(self, spec.name) for spec in fields(Settings)}


@dataclass(kw_only=True)
class CurateCotConfig(CommandConfig, Settings):
    """``unifer data curate-cot``: the curation knobs plus the input, the teacher and the output folder."""

    COMMAND: ClassVar[str] = "unifer data curate-cot"

    rlvr: str = field(metadata={"help": "RLVR dataset folder or Hub id (unifer data ingest --format rlvr, ...)"})
    teacher: str = field(
        metadata={"help": "local model path / Hub id, or an OpenAI-compatible endpoint URL (http://host:port/v1)"}
    )
    out: str = field(metadata={"help": "output folder (rerun with the same one to resume)"})


#: ``unifer data build DATASET``'s configs, by DATASET.
BUILD_CONFIGS: dict[str, type[CommandConfig]] = {
    "ferbench": FerbenchBuildConfig,
    "cot": CotBuildConfig,
    "rlvr": RlvrBuildConfig,
    "synfer": SynferBuildConfig,
}
