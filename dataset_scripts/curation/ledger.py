"""``samples.jsonl``, the curation ledger: one line per teacher sample, on the shared append-only ``unifer.jsonl``.

An item's K lines are appended together (flushed and fsynced). Reopening applies the shared torn-line policy (a
torn last line is cut off; a damaged line before it stops the run, naming the file and line), then keeps the items
whose K lines are all there and error-free: every other line (an item cut short, an item that ended in ``error``,
which is sampled again) is dropped by rewriting the file, so that each item ends with exactly K lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from unifer.jsonl import append, iter_records, write_records

from .items import Item
from .selection import judge

LEDGER = "samples.jsonl"


def finished_items(records: Iterable[dict[str, Any]], k: int) -> dict[int, tuple[str, list[str | None]]]:
    """``position -> (label, reasons)`` of the items whose K samples are all recorded (the first line of each
    counts) and none ended in ``error``. Only labels and reasons are kept, so a large ledger streams through."""
    labels: dict[int, str] = {}
    reasons: dict[int, dict[int, str | None]] = defaultdict(dict)
    for record in records:
        labels.setdefault(record["item"], record["label"])
        reasons[record["item"]].setdefault(record["sample"], record["reason"])
    return {
        position: (labels[position], [samples[s] for s in range(k)])
        for position, samples in reasons.items()
        if sorted(samples) == list(range(k)) and "error" not in samples.values()
    }


class SamplesLedger:
    """The open ledger: ``finished`` items (see ``finished_items``) are not sampled again; ``write`` appends."""

    def __init__(self, path: Path, k: int):
        self.path, self.k = path, k
        self.finished = finished_items(iter_records(path, repair=True), k)
        if sum(1 for _ in iter_records(path)) > k * len(self.finished):
            write_records(path, self._kept_records())  # streams: the old file is replaced only at the end
        self._handle = path.open("a", encoding="utf-8")

    def _kept_records(self) -> Iterator[dict[str, Any]]:
        """The first line of each sample of each finished item, in file order."""
        seen = set()
        for record in iter_records(self.path):
            key = (record["item"], record["sample"])
            if record["item"] in self.finished and key not in seen:
                seen.add(key)
                yield record

    def write(self, item: Item, texts: list[str] | None, error: str | None) -> list[str | None]:
        """Judge and append an item's samples (K error lines when the teacher failed); returns the verdicts."""
        texts = texts if texts is not None else [None] * self.k
        reasons = [judge(text, item) for text in texts]
        append(
            self._handle,
            (
                {
                    "item": item.position,
                    "sample": s,
                    "label": item.label,
                    "source": item.source,
                    "text": text,
                    "accepted": reason is None,
                    "reason": reason,
                    **({"error": error} if error else {}),
                }
                for s, (text, reason) in enumerate(zip(texts, reasons))
            ),
        )
        return reasons

    def close(self) -> None:
        self._handle.close()
