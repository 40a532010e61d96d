"""The run: ``curate_cot`` loads the input, resumes the ledger, samples what is left with the teacher (live
acceptance on the progress bar), then selects and writes the output from the ledger alone."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from unifer.data.configs import SAMPLING_SETTINGS, CurateCotConfig, Settings
from unifer.jsonl import check_run_settings
from unifer.labels import normalize

from .items import Item, load_rlvr, make_item, stratified_order
from .ledger import LEDGER, SamplesLedger
from .report import build_report, report_markdown, write_card, write_cot
from .selection import select
from .teachers import EndpointTeacher, make_teacher

logger = logging.getLogger(__name__)

SETTINGS_FILE = "curation.json"


def curate_cot(
    rlvr: str | Path,
    out_dir: str | Path,
    teacher: str,
    *,
    cache_dir: str | None = None,
    progress: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Sample ``samples_per_item`` answers per RLVR item from ``teacher`` (a URL of an OpenAI-compatible endpoint,
    or a local model path / Hub id), keep the right and well-formed ones, write ``out_dir`` (``samples.jsonl``,
    ``cot/``, ``README.md``, ``report.json``, ``report.md``) and return the report. ``options``: ``Settings``
    fields. Rerunning on the same ``out_dir`` resumes."""
    settings = CurateCotConfig(rlvr=rlvr, out=out_dir, teacher=teacher, **options)
    out = Path(out_dir)
    dataset, config = load_rlvr(rlvr, settings.config, cache_dir)
    source = Path(str(rlvr).rstrip("/")).name
    labels = [normalize(label) for label in dataset["solution"]]
    order = stratified_order(labels, settings.seed)
    check_run_settings(
        out,
        {
            "source": source,
            "config": config,
            "rows": len(dataset),
            "teacher": settings.model_name or teacher,
            **{name: getattr(settings, name) for name in SAMPLING_SETTINGS},
        },
        file_name=SETTINGS_FILE,
        what="samples",
        option="--out",
    )
    ledger = SamplesLedger(out / LEDGER, settings.samples_per_item)
    todo = [p for p in order[: settings.limit] if p not in ledger.finished]
    teacher_model, skipped = settings.model_name, 0
    try:
        if todo:  # a rerun that only changes caps or dedup needs no teacher
            engine = make_teacher(teacher, settings)
            teacher_model = engine.model if isinstance(engine, EndpointTeacher) else None
            skipped = _sample(engine, ledger, dataset, todo, labels, source, settings, progress)
    finally:
        ledger.close()
    verdicts, errors, cap = select(out / LEDGER, settings, {p: rank for rank, p in enumerate(order)})
    output = write_cot(out, dataset, verdicts)
    report = build_report(
        verdicts,
        errors,
        cap,
        teacher=teacher,
        teacher_model=teacher_model,
        settings=settings,
        source=source,
        config=config,
        rows=len(dataset),
        skipped=skipped,
        output=output,
    )
    _write_report(out, report, output, settings)
    return report


def _write_report(out: Path, report: dict[str, Any], output, config: CurateCotConfig) -> None:
    """``report.json``, ``report.md`` and, when a sample was kept, the card (with ``config``'s command line)."""
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report_markdown(report), encoding="utf-8")
    if output.num_examples:
        write_card(out, output, report, config.to_command_line())
    else:  # datasets cannot load an empty split: say so rather than leave a folder it fails on
        logger.warning(
            "%s: no sample was kept, so no CoT dataset was written; report.md gives each rejection's reason", out
        )


class Progress:
    """Live acceptance per class (accepted / answered samples) for the progress bar, and kept items per class."""

    def __init__(self, finished: dict[int, tuple[str, list[str | None]]]):
        self.answered, self.accepted, self.kept_items = Counter(), Counter(), Counter()
        self.errors = 0
        for label, reasons in finished.values():
            self.add(label, reasons)

    def add(self, label: str, reasons: list[str | None]) -> None:
        answered = [r for r in reasons if r != "error"]
        self.errors += len(reasons) - len(answered)
        self.answered[label] += len(answered)
        self.accepted[label] += answered.count(None)
        self.kept_items[label] += None in answered

    def postfix(self) -> str:
        rates = " ".join(
            f"{label[:4]} {self.accepted[label] / self.answered[label]:.0%}"
            for label in sorted(self.answered)
            if self.answered[label]
        )
        return rates + (f" err {self.errors}" if self.errors else "")


def _sample(
    teacher,
    ledger: SamplesLedger,
    dataset,
    todo: list[int],
    labels: list[str],
    source: str,
    settings: Settings,
    progress: bool,
) -> int:
    """Run the teacher over ``todo``, appending each item to the ledger as it completes; returns how many items
    were skipped because their class already had ``max_per_class`` kept items."""
    from tqdm.auto import tqdm

    live, skipped = Progress(ledger.finished), 0
    with tqdm(total=len(todo), desc="curating", unit=" items", disable=not progress) as bar:

        def items() -> Iterator[Item]:
            nonlocal skipped
            for position in todo:
                if settings.max_per_class is not None and live.kept_items[labels[position]] >= settings.max_per_class:
                    skipped += 1
                    bar.update()
                    continue
                yield make_item(dataset, position, source)

        for item, texts, error in teacher.run(items()):
            live.add(item.label, ledger.write(item, texts, error))
            bar.update()
            bar.set_postfix_str(live.postfix(), refresh=False)
    return skipped
