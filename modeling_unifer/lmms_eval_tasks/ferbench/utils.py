"""FERBench in lmms-eval, under UniFER's protocol and scored by UniFER's own code.

lmms-eval loads this file by path from the task YAMLs beside it (``!function utils.…``), so it imports ``unifer``
absolutely and keeps no state between calls. Every item is asked its own question (``prompt``) about its face
resized to 224×224 (``unifer.images.prepare_image``); the response is kept whole (``reasoning_tags: none`` in the
YAML) and scored by ``unifer.metrics.scoring.score`` over the task's items, exactly as ``unifer score`` scores the
predictions file written beside lmms-eval's results.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from unifer.evaluation import gold_labels
from unifer.images import DEFAULT_IMAGE_SIZE, prepare_image
from unifer.jsonl import write_records
from unifer.metrics.scoring import score
from unifer.prompts import fer_question

logger = logging.getLogger(__name__)

#: Folder (under lmms-eval's ``--output_path``) holding one ``<subset>.jsonl`` per subset, read by ``unifer score``.
PREDICTIONS_DIR = "unifer_predictions"
#: What a record keeps of an item: enough for ``unifer score`` to score it again.
RECORD_KEYS = ("id", "subset", "label", "candidate_labels", "response")


def process_docs(dataset):
    """Gold labels as candidate names: a subset config stores ``label`` as a ``ClassLabel`` index, and later steps
    see plain rows without the features that name it."""
    return dataset.remove_columns("label").add_column("label", gold_labels(dataset))


def doc_to_visual(doc: dict[str, Any]) -> list:
    return [prepare_image(doc["image"], DEFAULT_IMAGE_SIZE, name=doc["id"])]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    """The item's own question (FERBench's official prompt), or the FERBench question for its candidates."""
    return doc.get("prompt") or fer_question(doc["candidate_labels"])


def doc_to_target(doc: dict[str, Any]) -> str:
    return doc["label"]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    """The item and its whole response, for every metric: each metric scores the task's items together."""
    record = {key: doc[key] for key in RECORD_KEYS[:-1]}
    record["candidate_labels"] = list(record["candidate_labels"])
    record["response"] = results[0]
    return {metric: record for metric in ("accuracy", "uar", "strict_accuracy", "pooled_accuracy")}


def _scored(records: list[dict[str, Any]], extraction: str) -> dict[str, Any]:
    return score(
        [r["response"] for r in records],
        [r["label"] for r in records],
        candidate_labels=[r["candidate_labels"] for r in records],
        subsets=[r["subset"] for r in records],
        extraction=extraction,
        bootstrap=0,
    )


def _task_figures(result: dict[str, Any]) -> dict[str, Any]:
    """The row ``unifer score`` prints for these items: the subset's own for one subset, else the pooled one."""
    per_subset = result["per_subset"]
    return next(iter(per_subset.values())) if len(per_subset) == 1 else result["overall"]


def accuracy(records: list[dict[str, Any]], args=None) -> float:
    """Paper-extraction accuracy (the official evaluator's figure); also writes the predictions files."""
    write_predictions(records, args)
    return _task_figures(_scored(records, "paper"))["accuracy"]


def uar(records: list[dict[str, Any]]) -> float:
    """Paper-extraction UAR (mean recall over the gold classes)."""
    return _task_figures(_scored(records, "paper"))["uar"]


def strict_accuracy(records: list[dict[str, Any]]) -> float:
    """Strict-extraction accuracy (UniFER's default: one answer block naming exactly one candidate)."""
    return _task_figures(_scored(records, "strict"))["accuracy"]


def pooled_accuracy(records: list[dict[str, Any]]) -> float:
    """Paper accuracy with the pooled script's extraction: its item-weighted mean over a group's subsets is the
    paper's overall accuracy (the ``ferbench`` group reports it)."""
    return _scored(records, "paper")["overall"]["accuracy"]


def predictions_dir(output_path: str | None) -> Path:
    """``<output_path>/unifer_predictions`` (beside lmms-eval's results), or ``./unifer_predictions`` without one."""
    if not output_path:
        return Path(PREDICTIONS_DIR)
    base = Path(output_path)
    return (base.parent if base.suffix in (".json", ".jsonl") else base) / PREDICTIONS_DIR


def write_predictions(records: list[dict[str, Any]], args=None) -> list[Path]:
    """One ``<subset>.jsonl`` per subset in ``unifer score``'s format (replacing an earlier run's)."""
    folder = predictions_dir(getattr(args, "output_path", None))
    folder.mkdir(parents=True, exist_ok=True)
    by_subset: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_subset.setdefault(record["subset"], []).append(record)
    paths = [write_records(folder / f"{subset}.jsonl", rows) for subset, rows in by_subset.items()]
    logger.info("wrote %d predictions to %s", len(records), ", ".join(map(str, paths)))
    return paths
