"""Reading prediction files for :func:`unifer.metrics.scoring.score`: ``unifer eval`` run folders, our
``predictions.jsonl`` and the official evaluator's ``*_results.json``, as records and as ``score``'s columns.

Everything here touches the file system; :mod:`unifer.metrics.scoring` stays pure functions on lists.

>>> from unifer.metrics.scoring import score
>>> score(**load_predictions("runs/rafdb"), extraction="paper")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from unifer.jsonl import read_records
from unifer.labels import SUBSETS, subset_labels, subset_of


def load_predictions(paths: str | Path | Iterable[str | Path]) -> dict[str, list]:
    """Read responses for :func:`~unifer.metrics.scoring.score` (``score(**load_predictions(p))``): see
    :func:`read_prediction_records` for what may be read, and :func:`prediction_columns` for what comes back."""
    return prediction_columns(read_prediction_records(paths))


def read_prediction_records(paths: str | Path | Iterable[str | Path]) -> list[dict[str, Any]]:
    """Predictions as records in ``predictions.jsonl``'s format, from any mix of sources:

    * a ``unifer eval`` run folder (its ``predictions.jsonl``);
    * our ``predictions.jsonl`` (keys ``subset``, ``label``, ``response``, optional ``candidate_labels``,
      ``error``, ``id``, ``parsed_label``, ``reasoning``, ``num_tokens``; read under :mod:`unifer.jsonl`'s
      torn-line policy);
    * an official ``*_results.json`` list (keys ``true_label``, ``model_response``, ``candidate_labels``, optional
      ``error``; the subset comes from the candidate list, else from the file name's prefix such as ``rafdb_``).

    An id held twice (two files covering the same items, say) is refused, naming the ids and files: scoring
    both copies would count those items twice.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    records: list[dict[str, Any]] = []
    for path in map(_predictions_file, paths):
        records += _read_jsonl(path) if path.suffix == ".jsonl" else _read_results(path)
    _refuse_duplicate_ids(records)
    return records


def prediction_columns(records: Sequence[dict[str, Any]]) -> dict[str, list]:
    """:func:`~unifer.metrics.scoring.score`'s keyword arguments from prediction records. ``ids``,
    ``stored_labels`` and ``reasoning`` are included when every record carries them (an official results file
    carries none)."""
    columns: dict[str, list] = {
        "responses": [r["response"] for r in records],
        "references": [r["label"] for r in records],
        "candidate_labels": [list(r.get("candidate_labels") or subset_labels(r["subset"])) for r in records],
        "subsets": [r["subset"] for r in records],
        "errors": [bool(r.get("error")) for r in records],
    }
    for column, key in (("ids", "id"), ("stored_labels", "parsed_label"), ("reasoning", "reasoning")):
        if records and all(key in r for r in records):
            columns[column] = [r[key] for r in records]
    return columns


def paired_correctness(before: str | Path, after: str | Path) -> tuple[list[bool], list[bool]]:
    """Whether each item was answered right (its stored strict parse ``parsed_label`` equals its ``label``) in two
    evaluations of the same items (run folders or ``predictions.jsonl``), paired by id in id order: the input of
    :func:`~unifer.metrics.scoring.paired_lift`. Evaluations of different items are refused."""

    def right(path: str | Path) -> dict[str, bool]:
        records = read_prediction_records(path)
        if not all("id" in r and "parsed_label" in r for r in records):
            raise ValueError(
                f"{path}: every record needs an 'id' and a 'parsed_label' to be paired (a unifer eval run)."
            )
        return {r["id"]: r["parsed_label"] == r["label"] for r in records}

    old, new = right(before), right(after)
    if old.keys() != new.keys():
        raise ValueError(f"{before} and {after} hold predictions for different faces: they cannot be paired by id.")
    ids = sorted(old)
    return [old[i] for i in ids], [new[i] for i in ids]


def _predictions_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        inside = path / "predictions.jsonl"
        if not inside.is_file():
            raise ValueError(f"{path} is a folder without a predictions.jsonl (is it a `unifer eval` output folder?).")
        return inside
    if not path.is_file():
        raise FileNotFoundError(f"no such file or folder: {path}")
    return path


def _refuse_duplicate_ids(records: list[dict[str, Any]]) -> None:
    seen: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    for record in records:
        if "id" not in record:
            continue
        if record["id"] in seen:
            repeated.setdefault(record["id"], [seen[record["id"]]]).append(record["_source"])
        seen.setdefault(record["id"], record["_source"])
    for record in records:
        record.pop("_source", None)
    if repeated:
        shown = "; ".join(f"{item} ({' and '.join(sources)})" for item, sources in list(repeated.items())[:5])
        raise ValueError(
            f"{len(repeated)} id(s) appear more than once, so those items would be counted twice: {shown}"
            f"{' …' if len(repeated) > 5 else ''}. Score each file on its own, or drop the overlap first; to compare "
            "two runs of the same items, use `unifer compare RUN_A RUN_B`."
        )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    for number, record in enumerate(read_records(path), 1):
        missing = [key for key in ("subset", "label", "response") if key not in record]
        if missing:
            raise ValueError(f"{path}: record {number} has no {missing[0]!r} field (need subset, label, response).")
        records.append({**record, "_source": f"{path} record {number}"})
    return records


def _read_results(path: Path) -> list[dict[str, Any]]:
    items = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of result items (an official *_results.json file).")
    by_name = next((s for s in SUBSETS if path.name.startswith(s)), None)
    records = []
    for number, item in enumerate(items):
        missing = [key for key in ("model_response", "true_label", "candidate_labels") if key not in item]
        if missing:
            raise ValueError(
                f"{path}: item {number} has no {missing[0]!r} field (need true_label, model_response, "
                "candidate_labels)."
            )
        subset = subset_of(item["candidate_labels"]) or by_name
        if subset is None:
            raise ValueError(
                f"{path}: item {number} has a non-official candidate list and the file name does not "
                f"start with a subset name ({', '.join(SUBSETS)}); rename it, e.g. rafdb_results.json."
            )
        records.append(
            {
                "response": item["model_response"],
                "label": item["true_label"],
                "subset": subset,
                "candidate_labels": item["candidate_labels"],
                "error": bool(item.get("error")),
            }
        )
    return records
