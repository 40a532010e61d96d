"""Verdicts: ``judge`` rejects a sample as it is written; ``select`` turns the ledger's accepted samples into the
kept set once near-duplicate reasoning (word shingles, Jaccard) and the per-item and per-class caps apply."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from unifer.answers import extract_label, is_well_formed, parse
from unifer.data.configs import Settings
from unifer.jsonl import iter_lines
from unifer.labels import normalize

from .items import Item

#: Why a teacher sample is not in the output, in the order they are decided.
REASONS: tuple[str, ...] = ("error", "malformed", "unparsable", "wrong_label", "duplicate", "over_cap")
_SHINGLE = 3
_WORD = re.compile(r"\w+")


def judge(text: str | None, item: Item) -> str | None:
    """The rejection reason of one teacher sample, or None when it is well formed and names the item's label.
    Parsed by ``unifer.answers`` (as every prediction is), from the text that endpoint and local teachers both
    give."""
    if text is None:
        return "error"
    if not is_well_formed(text):
        return "malformed"
    answer = extract_label(text, item.candidates)
    if answer is None:
        return "unparsable"
    return None if normalize(answer) == item.label else "wrong_label"


def shingles(text: str) -> frozenset:
    """Word 3-shingles of case-folded text without punctuation (a text under 3 words is one shingle)."""
    words = _WORD.findall(text.casefold())
    return frozenset(tuple(words[i : i + _SHINGLE]) for i in range(max(1, len(words) - _SHINGLE + 1)))


def jaccard(a: frozenset, b: frozenset) -> float:
    """Size of the intersection over size of the union (1 for two empty sets)."""
    return len(a & b) / len(a | b) if a | b else 1.0


@dataclass
class ItemVerdict:
    """An item's final verdicts: one reason per sample (None = kept) and the kept samples' texts."""

    position: int
    label: str
    source: str
    reasons: list[str | None] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def _item_verdict(records: list[dict[str, Any]], settings: Settings) -> ItemVerdict:
    first = records[0]
    verdict, distinct = ItemVerdict(first["item"], first["label"], first["source"]), []
    for record in sorted(records, key=itemgetter("sample")):
        reason = record["reason"]
        if reason is None and settings.dedup:
            think = shingles(parse(record["text"]).think or "")
            if any(jaccard(think, other) >= settings.dedup_threshold for other in distinct):
                reason = "duplicate"
            distinct.append(think)
        if reason is None and settings.max_per_item and len(verdict.kept) >= settings.max_per_item:
            reason = "over_cap"
        if reason is None:
            verdict.kept.append(record["text"])
        verdict.reasons.append(reason)
    return verdict


def class_cap(verdicts: Sequence[ItemVerdict], settings: Settings) -> int | None:
    """Kept items allowed per class: the smallest class's count of items with a kept sample (``balance_classes``;
    a class curated but never answered right counts 0) and/or ``max_per_class``."""
    caps = []
    if settings.balance_classes and verdicts:
        kept_items = Counter(v.label for v in verdicts if v.kept)
        caps.append(min(kept_items[label] for label in {v.label for v in verdicts}))
    if settings.max_per_class is not None:
        caps.append(settings.max_per_class)
    return min(caps, default=None)


def select(ledger: Path, settings: Settings, rank: dict[int, int]) -> tuple[list[ItemVerdict], Counter, int | None]:
    """Final verdicts of every item of the ``ledger`` (as ``SamplesLedger`` left it: every line a record), the
    error messages seen, and the class cap applied. Over the cap, a class keeps its items that come first in the
    curation order (``rank``)."""
    errors: Counter = Counter()
    verdicts = []
    # Streamed item by item (an item's K lines are contiguous): only the kept texts stay in memory.
    records = (record for _, _, record in iter_lines(ledger))
    for _, group in itertools.groupby(records, key=itemgetter("item")):
        item_records = list(group)
        errors.update(record["error"] for record in item_records if "error" in record)
        verdicts.append(_item_verdict(item_records, settings))
    cap = class_cap(verdicts, settings)
    if cap is not None:
        taken: Counter = Counter()
        for verdict in sorted(verdicts, key=lambda v: rank[v.position]):
            if verdict.kept and taken[verdict.label] >= cap:
                verdict.reasons = ["over_cap" if reason is None else reason for reason in verdict.reasons]
                verdict.kept = []
            taken[verdict.label] += bool(verdict.kept)
    return verdicts, errors, cap
