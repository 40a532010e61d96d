"""The input: RLVR rows loaded with undecoded images, the class-balanced curation order, and ``Item``, one row to
answer."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unifer.labels import normalize


@dataclass(frozen=True)
class Item:
    """One RLVR row to answer: ``position`` in the input is its id in the ledger."""

    position: int
    label: str  # canonical emotion
    source: str
    question: str
    candidates: tuple[str, ...]
    image: Any  # {"bytes", "path"} as datasets.Image(decode=False) gives it


def load_rlvr(path: str | Path, config: str | None = None, cache_dir: str | None = None):
    """The RLVR split (``train``) of a dataset folder or Hub id, images as undecoded bytes; returns (dataset,
    config). Without ``config``: the only config, else the one named ``rlvr``."""
    import datasets

    if config is None:
        names = datasets.get_dataset_config_names(str(path))
        config = names[0] if len(names) == 1 else "rlvr" if "rlvr" in names else None
        if config is None:
            raise ValueError(f"{path} has configs {', '.join(names)}; choose the RLVR one with --config.")
    dataset = datasets.load_dataset(str(path), config, split="train", cache_dir=cache_dir)
    missing = {"prompt", "image", "solution", "candidate_labels"} - set(dataset.column_names)
    if missing:
        raise ValueError(
            f"{path} config {config!r} is not RLVR data: no column(s) {', '.join(sorted(missing))}. "
            "Build it with `unifer data ingest --format rlvr` or `unifer data build rlvr`."
        )
    return dataset.cast_column("image", datasets.Image(decode=False)), config


def question_of(prompt: Sequence[dict[str, Any]]) -> str:
    """The text of the user turn of an RLVR ``prompt``."""
    texts = [
        part["text"]
        for message in prompt
        if message["role"] == "user"
        for part in message["content"]
        if part["type"] == "text" and part.get("text")
    ]
    if not texts:
        raise ValueError("an RLVR prompt has no user text")
    return "\n".join(texts)


def stratified_order(labels: Sequence[str], seed: int) -> list[int]:
    """Positions shuffled within each class, then dealt round-robin across classes: any prefix (``--limit``) is a
    class-balanced random sample, however the input is sorted (ingest writes class by class)."""
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for position, label in enumerate(labels):
        by_class[label].append(position)
    for positions in by_class.values():
        rng.shuffle(positions)
    rounds = itertools.zip_longest(*(by_class[label] for label in sorted(by_class)))
    return [position for row in rounds for position in row if position is not None]


def make_item(dataset, position: int, source: str) -> Item:
    """The ``Item`` of row ``position``; ``source`` stands in when the row has no ``source`` column."""
    row = dataset[position]
    return Item(
        position,
        normalize(row["solution"]),
        row.get("source") or source,
        question_of(row["prompt"]),
        tuple(row["candidate_labels"]),
        row["image"],
    )
