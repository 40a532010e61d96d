"""What a run writes besides the ledger: the kept samples as ``cot/`` Parquet, ``report.json`` and ``report.md``
(counts per class, source and rejection reason), and the dataset card with the command that reproduces it
(``CurateCotConfig.to_command_line``)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unifer.data.configs import Settings

from .items import question_of
from .selection import REASONS, ItemVerdict


def write_cot(out: Path, dataset, verdicts: Sequence[ItemVerdict]):
    """The kept samples as ``cot/train-*.parquet`` rows (``COT_FEATURES``), in input order; the image is the
    input's original bytes (the SFT trainer prepares images itself)."""
    from unifer.data.cot_rlvr import COT_FEATURES, cot_example
    from unifer.data.publish import ShardWriter

    with ShardWriter(out, "cot", "train", COT_FEATURES) as writer:
        for verdict in sorted(verdicts, key=lambda v: v.position):
            if not verdict.kept:
                continue
            row = dataset[verdict.position]
            question = question_of(row["prompt"])
            for text in verdict.kept:
                writer.write(cot_example(question, text, row["image"]))
    return writer.output


def _tally(verdicts: Sequence[ItemVerdict], key: str) -> dict[str, dict[str, Any]]:
    """Per class or source: samples drawn, answered (not ``error``), accepted by the judge, kept; kept items."""
    table: dict[str, Counter] = defaultdict(Counter)
    for verdict in verdicts:
        counts = table[getattr(verdict, key)]
        counts["items"] += 1
        counts["kept_items"] += bool(verdict.kept)
        for reason in verdict.reasons:
            counts["drawn"] += 1
            counts["answered"] += reason != "error"
            counts["accepted"] += reason in (None, "duplicate", "over_cap")
            counts["kept"] += reason is None
    return {
        name: {
            **{k: counts[k] for k in ("items", "drawn", "answered", "accepted", "kept", "kept_items")},
            "acceptance_rate": counts["accepted"] / counts["answered"] if counts["answered"] else None,
        }
        for name, counts in sorted(table.items())
    }


def build_report(
    verdicts: Sequence[ItemVerdict],
    errors: Counter,
    cap: int | None,
    *,
    teacher: str,
    teacher_model: str | None,
    settings: Settings,
    source: str,
    config: str,
    rows: int,
    skipped: int,
    output,
) -> dict[str, Any]:
    """Everything the ledger says, after dedup and caps. ``drawn = kept + sum(rejected)``; the acceptance rate is
    accepted / answered samples (an ``error`` says nothing about the teacher)."""
    per_class = _tally(verdicts, "label")
    samples = {k: sum(row[k] for row in per_class.values()) for k in ("drawn", "answered", "accepted", "kept")}
    return {
        "teacher": {"teacher": teacher, "model_name": teacher_model},
        "input": {"source": source, "config": config, "rows": rows},
        "settings": settings.settings(),
        "items": {
            "curated": len(verdicts),
            "kept": sum(bool(v.kept) for v in verdicts),
            "skipped_class_full": skipped,
        },
        "samples": samples,
        "acceptance_rate": samples["accepted"] / samples["answered"] if samples["answered"] else None,
        "rejected": {reason: sum(v.reasons.count(reason) for v in verdicts) for reason in REASONS},
        "class_cap": cap,
        "per_class": per_class,
        "per_source": _tally(verdicts, "source"),
        "errors": [{"message": message, "samples": n} for message, n in errors.most_common(10)],
        "output": {"config": "cot", "split": "train", "rows": output.num_examples, "files": output.files},
    }


def format_rate(value: float | None) -> str:
    """A rate as a percentage, or a dash when there is none (nothing answered)."""
    return "–" if value is None else f"{value:.1%}"


def report_markdown(report: dict[str, Any]) -> str:
    """``report.md``: the report's counts as prose and tables."""
    from unifer.data.publish import markdown_table

    def table(rows: dict[str, dict[str, Any]], header: str) -> str:
        return markdown_table(
            (header, "items", "drawn", "accepted", "acceptance", "kept samples", "kept items"),
            [
                (
                    name,
                    r["items"],
                    r["drawn"],
                    r["accepted"],
                    format_rate(r["acceptance_rate"]),
                    r["kept"],
                    r["kept_items"],
                )
                for name, r in rows.items()
            ],
        )

    samples, teacher = report["samples"], report["teacher"]
    errors = "\n".join(f"* {e['samples']:,} samples: `{e['message']}`" for e in report["errors"]) or "none"
    return f"""# CoT curation report

Teacher: `{teacher["teacher"]}`{f" (model `{teacher['model_name']}`)" if teacher["model_name"] else ""}.
Input: `{report["input"]["source"]}` (config `{report["input"]["config"]}`, {report["input"]["rows"]:,} rows).

{samples["drawn"]:,} samples drawn for {report["items"]["curated"]:,} items; {samples["answered"]:,} answered,
{samples["accepted"]:,} accepted (well formed, right label): acceptance {format_rate(report["acceptance_rate"])}.
{samples["kept"]:,} samples kept from {report["items"]["kept"]:,} items (class cap: {report["class_cap"]}).

## Per class

{table(report["per_class"], "class")}

## Per source

{table(report["per_source"], "source")}

## Rejected samples

{markdown_table(("reason", "samples"), report["rejected"].items())}

## Errors

{errors}

## Settings

```json
{json.dumps(report["settings"], indent=2)}
```
"""


def write_card(out: Path, output, report: dict[str, Any], command: str) -> None:
    """``README.md``: YAML ``configs:`` (config ``cot``, split ``train``) and what was kept, from what, how."""
    from unifer.data.publish import markdown_table, provenance, size_category
    from unifer.data.publish import write_card as write_dataset_card

    rows = report["output"]["rows"]
    per_class = markdown_table(("class", "rows"), ((name, r["kept"]) for name, r in report["per_class"].items()))
    body = f"""
# CoT curated from {report["input"]["source"]}

Chain-of-thought answers for supervised fine-tuning (`SFTTrainer`: `messages`, `images`), made by rejection
sampling: the teacher `{report["teacher"]["model_name"] or report["teacher"]["teacher"]}` answered each RLVR item
{report["settings"]["samples_per_item"]} times, and only answers that are well formed
(`<think>…</think><answer>…</answer>`) and name the item's label were kept (acceptance
{format_rate(report["acceptance_rate"])}). See `report.md` for rejections by reason, per class and per source.

> **Licence.** The images come from the source dataset and remain under its licence; keep any Hub copy private
> unless that licence allows redistribution. The reasoning text was generated by the teacher model: check its
> terms of use too.

```python
from datasets import load_dataset
ds = load_dataset("path/or/hub-id", split="train")
```

{rows:,} rows:

{per_class}

{provenance(command)}"""
    write_dataset_card(
        out,
        [output],
        "cot",
        body,
        pretty_name=f"CoT curated from {report['input']['source']}",
        license="other",
        license_name="source-dataset-licences",
        language="en",
        task_categories=["image-text-to-text", "visual-question-answering"],
        size_categories=size_category(rows),
        tags=["facial-expression-recognition", "unifer", "cot"],
    )
