"""Append-only JSONL ledgers and the run-settings guard, shared by every long run (``unifer eval``, curation).

One torn-line policy for every reader: a kill mid-write can only leave the *last* line incomplete (no newline,
or not valid JSON), so that line is skipped with a warning and, when the ledger is opened for appending, cut off
the file so the next record starts on a clean line. Any other line that is not a JSON object is damage, not an
interruption: reading stops with an error naming the file and line, since silently dropping it would lose work.

Appends are flushed and fsynced record batch by record batch, so a run killed at any moment (SIGKILL included)
keeps everything it reported as written.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """``(line number, raw bytes, record)`` for each line; the record is None where the line is not a complete
    JSON object (the caller decides whether that is a torn tail or damage)."""
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            record = None
            if raw.endswith(b"\n"):
                try:
                    record = json.loads(raw)
                except ValueError:
                    record = None
            yield number, raw, record if isinstance(record, dict) else None


def iter_records(path: str | Path, *, repair: bool = False) -> Iterator[dict[str, Any]]:
    """Stream a ledger's records in file order under the torn-line policy above; blank lines are ignored.

    ``repair`` truncates a torn last line away once the stream is exhausted, so that appending continues on a
    clean line."""
    path = Path(path)
    if not path.exists():
        return
    good_bytes, torn = 0, None
    for number, raw, record in iter_lines(path):
        if torn is not None and raw.strip():
            raise ValueError(
                f"{path}: line {torn} is not a JSON record, and lines follow it, so it is damage, not "
                "an interrupted write. Fix or delete that line, then run again."
            )
        if record is None and raw.strip():
            torn = number
            continue
        if record is not None:
            yield record
        good_bytes += len(raw)
    if torn is not None:
        logger.warning(
            "%s: skipped the torn last line %d (an interrupted write)%s.", path, torn, "; cut it off" if repair else ""
        )
        if repair:
            with path.open("r+b") as handle:
                handle.truncate(good_bytes)


def read_records(path: str | Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """Every record of a ledger, as :func:`iter_records` streams them."""
    return list(iter_records(path, repair=repair))


def append(handle, records: Iterable[dict[str, Any]]) -> None:
    """Write ``records`` as JSON lines to a text handle opened for appending; flush and fsync them."""
    handle.write("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    handle.flush()
    os.fsync(handle.fileno())


def write_records(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Replace ``path`` atomically with ``records`` (a temporary file renamed over it)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        append(handle, records)
    os.replace(temporary, path)
    return path


class Ledger:
    """A JSONL file opened for appending: ``records`` holds what was there (torn tail repaired), ``append`` adds.

    >>> with Ledger(tmp / "samples.jsonl") as ledger:  # doctest: +SKIP
    ...     ledger.append([{"id": "a"}])
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records = read_records(self.path, repair=True)
        self._handle = self.path.open("a", encoding="utf-8")

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        append(self._handle, records)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_run_settings(
    folder: str | Path, settings: dict[str, Any], *, file_name: str, what: str, option: str
) -> None:
    """Refuse to resume into ``folder`` when its ``file_name`` records other ``settings``: results made under two
    settings would mix. A new folder gets the settings file. ``what`` names the results (in the message) and
    ``option`` the flag that picks another folder."""
    folder = Path(folder)
    path = folder / file_name
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = {key: (before.get(key), value) for key, value in settings.items() if before.get(key) != value}
        if changed:
            detail = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items())
            raise ValueError(
                f"{folder} holds {what} made with other settings ({detail}). Resume with the same "
                f"settings, or use another {option}."
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
