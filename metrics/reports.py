"""Reports of scored FER results: the terminal table, ``metrics.json``, ``report.md``, confusion-matrix PNGs and
the quickstart's story picture (:func:`plot_story`).

Input is the dict :func:`unifer.metrics.scoring.score` returns; matplotlib is imported only to draw figures.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from unifer.labels import subset_labels, to_candidate

logger = logging.getLogger(__name__)


def summary_rows(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, figures) per subset, then the pooled "overall"; a result without subsets is one "overall" row."""
    if "per_subset" not in result:
        return [("overall", result)]
    return [*result["per_subset"].items(), ("overall", result["overall"])]


def per_class_rows(figures: dict[str, Any]) -> list[tuple[str, float, float, float, float]]:
    """(label, precision, recall, f1, support) rows of either mode's ``per_class``."""
    per_class = figures["per_class"]
    if isinstance(per_class, dict):  # strict
        return [(label, c["precision"], c["recall"], c["f1"], c["support"]) for label, c in per_class.items()]
    return [(c["emotion"], c["precision"], c["recall"], c["f1"], c["support"]) for c in per_class]


def format_ci(ci: list[float] | None, digits: int = 4) -> str:
    return "–" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def write_report(
    result: dict[str, Any],
    out_dir: str | Path,
    *,
    config: dict[str, Any] | None = None,
    records: Sequence[dict[str, Any]] | None = None,
    title: str | None = None,
    runtime_seconds: float | None = None,
) -> Path:
    """Write ``metrics.json``, ``report.md`` and ``confusion_<group>.png`` per subset and overall; return the folder.

    ``records``: the scored predictions (``predictions.jsonl``'s format), for output-length statistics and examples
    of failed responses; ``title``: what was evaluated on what (e.g. ``model on benchmark``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    report = _markdown(result, config, records or [], title, runtime_seconds)
    for note in reasoned_unasked_note(records or []):
        logger.warning(note)
    (out / "report.md").write_text(report, encoding="utf-8")
    for name, figures in summary_rows(result):
        _plot_confusion(figures, f"{name} ({result['extraction']} extraction)", out / f"confusion_{name}.png")
    return out


#: What each column of the summary table means (report.md prints it under the table).
COLUMN_NOTES = (
    (
        "items",
        "items scored; in paper mode, items whose generation failed are left out, as the official evaluator does",
    ),
    ("errors", "items whose generation failed: wrong and unparsed in strict mode, skipped in paper mode"),
    (
        "accuracy",
        "correct / items. **overall** is micro accuracy: every item pooled (the paper's headline), "
        "not the mean of the subsets",
    ),
    ("95% CI", "percentile bootstrap interval of the accuracy over items (seeded; `–` when turned off)"),
    ("UAR", "unweighted average recall: the mean of per-class recall over classes with gold items (macro)"),
    ("macro F1", "unweighted mean of per-class F1 over the candidate classes (macro)"),
    (
        "well-formed",
        "share of responses that are exactly `<think>…</think><answer>…</answer>` (for an answer-only prompt: one "
        "`<answer>…</answer>`)",
    ),
    (
        "unparsed",
        "share (count) of responses whose answer names no single candidate (strict) or that the official "
        "extraction calls `unknown` (paper)",
    ),
)
EXAMPLES_PER_KIND = 3
EXAMPLE_CHARS = 400


def _markdown(
    result: dict[str, Any],
    config: dict[str, Any] | None,
    records: Sequence[dict[str, Any]],
    title: str | None,
    runtime_seconds: float | None,
) -> str:
    extraction = result["extraction"]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    facts = [when, f"{extraction} extraction", f"{result.get('total', result['n']):,} items"]
    if runtime_seconds is not None:
        facts.append(f"runtime {runtime_seconds:,.1f} s")
    lines = [f"# FER evaluation: {title}" if title else "# FER scoring report", "", " · ".join(facts), ""]
    lines += [f"**{note.replace('<think>', '`<think>`')}**\n" for note in reasoned_unasked_note(records)]
    lines += _summary_table(result)
    lines += ["", *[f"- **{name}**: {note}." for name, note in COLUMN_NOTES]]
    lines += _length_section(records)
    for name, figures in summary_rows(result):
        lines += ["", f"## Per class: {name}", "", "| label | precision | recall | F1 | support |"]
        lines += ["|---|---:|---:|---:|---:|", *[_class_row(*row) for row in per_class_rows(figures)]]
    lines += _examples_section(records, extraction)
    if config is not None:
        from unifer.environment import package_versions

        lines += ["", "## Run config", "", "| key | value |", "|---|---|"]
        lines += [f"| {key} | `{json.dumps(value)}` |" for key, value in config.items()]
        lines += ["", "## Package versions", "", "| package | version |", "|---|---|"]
        lines += [f"| {name} | {version} |" for name, version in package_versions().items() if version]
    return "\n".join(lines) + "\n"


def reasoned_unasked_note(records: Sequence[dict[str, Any]]) -> list[str]:
    """The warning for answer-only prompts that got reasoning instead (:func:`unifer.answers.reasoned_unasked`):
    one line when any response did, else none."""
    from unifer.answers import reasoned_unasked

    reasoned = [r for r in records if reasoned_unasked(r["response"] or "", r.get("reasoning", True))]
    if not reasoned:
        return []
    unanswered = sum(r.get("parsed_label") is None for r in reasoned)
    return [
        f"{len(reasoned)} of {len(records)} responses began reasoning (<think>) although the prompt asked for the "
        f"answer only (--no-reasoning), {unanswered} of them stopping without an answer: this model always reasons. "
        "Evaluate it with reasoning (without --no-reasoning)."
    ]


def _summary_table(result: dict[str, Any]) -> list[str]:
    lines = [
        "| group | items | errors | accuracy | 95% CI | UAR | macro F1 | well-formed | unparsed |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for name, f in summary_rows(result):
        lines.append(
            f"| {name} | {f['n']} | {f['errors']} | {f['accuracy']:.4f} | {format_ci(f['accuracy_ci95'])} "
            f"| {f['uar']:.4f} | {f['macro_f1']:.4f} | {f['well_formed_rate']:.4f} "
            f"| {f['unparsed_rate']:.4f} ({f['unparsed_count']}) |"
        )
    return lines


def _class_row(label: str, precision: float, recall: float, f1: float, support: float) -> str:
    if not support:  # no gold item of this class: its recall and F1 are undefined, not zero
        return f"| {label} | n/a | n/a | n/a | 0 (no gold items) |"
    return f"| {label} | {precision:.4f} | {recall:.4f} | {f1:.4f} | {support:g} |"


def _length_section(records: Sequence[dict[str, Any]]) -> list[str]:
    """Output length per subset: generated tokens where the predictions record them, else characters."""
    if not records:
        return []
    unit = "tokens" if all(r.get("num_tokens") is not None for r in records) else "characters"
    groups: dict[str, list[int]] = {}
    for record in records:
        length = record["num_tokens"] if unit == "tokens" else len(record["response"] or "")
        groups.setdefault(record["subset"], []).append(length)
    groups["overall"] = [length for lengths in groups.values() for length in lengths]
    lines = [
        "",
        f"## Output length ({unit})",
        "",
        "| group | min | median | mean | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, lengths in groups.items():
        lines.append(f"| {name} | {min(lengths)} | {np.median(lengths):g} | {np.mean(lengths):.1f} | {max(lengths)} |")
    return lines


def _failures(
    records: Sequence[dict[str, Any]], extraction: str
) -> dict[str, dict[str, list[tuple[dict, str | None]]]]:
    """``subset -> {"unparsed" | "wrong": [(record, parsed label)]}`` under the report's extraction mode."""
    from unifer.answers import UNKNOWN, extract_label

    failures: dict[str, dict[str, list[tuple[dict, str | None]]]] = {}
    for record in records:
        candidates = record.get("candidate_labels") or subset_labels(record["subset"])
        response = record["response"] or ""
        parsed = (
            None if record.get("error") else extract_label(response, candidates, extraction, subset=record["subset"])
        )
        parsed = None if parsed == UNKNOWN else parsed
        gold = to_candidate(record["label"], candidates) if extraction == "strict" else record["label"]
        kind = "unparsed" if parsed is None else "wrong" if parsed != gold else None
        if kind:
            failures.setdefault(record["subset"], {}).setdefault(kind, []).append((record, parsed))
    return failures


def _examples_section(records: Sequence[dict[str, Any]], extraction: str) -> list[str]:
    """A few unparsed and a few wrong responses per subset, so a reader sees how the model fails."""
    failures = _failures(records, extraction)
    if not failures:
        return []
    lines = [
        "",
        "## Examples of failed responses",
        "",
        f"Up to {EXAMPLES_PER_KIND} unparsed and {EXAMPLES_PER_KIND} "
        f"wrong responses per subset, cut at {EXAMPLE_CHARS} characters.",
    ]
    for subset, by_kind in failures.items():
        for kind in ("unparsed", "wrong"):
            for record, parsed in by_kind.get(kind, [])[:EXAMPLES_PER_KIND]:
                text = (record["response"] or "")[:EXAMPLE_CHARS].replace("```", "` ` `")
                header = f"**{subset} · {kind}** · id `{record.get('id', '–')}` · gold `{record['label']}` · parsed `{parsed}`"
                lines += ["", header, "", "```text", text, "```"]
    return lines


def _plot_confusion(figures: dict[str, Any], title: str, path: Path) -> None:
    """One group's confusion matrix, saved as a PNG (see :func:`draw_confusion`)."""
    from matplotlib.figure import Figure  # a bare Figure renders with Agg and never touches pyplot's GUI state

    columns = len(figures["confusion_labels"])
    fig = Figure(figsize=(1.2 + 0.75 * columns, 1.2 + 0.7 * len(figures["confusion_matrix"])), layout="constrained")
    ax = fig.add_subplot()
    fig.colorbar(draw_confusion(ax, figures, title), ax=ax, label="share of gold class")
    fig.savefig(path, dpi=120)


def draw_confusion(ax, figures: dict[str, Any], title: str):
    """Row-normalised confusion matrix (rate of each gold class's items) with the counts written in the cells, on
    a matplotlib ``ax``; returns the image (for a colorbar)."""
    counts = np.array(figures["confusion_matrix"])
    columns = figures["confusion_labels"]
    rows = columns[: len(counts)]
    # Divide by support, not the row sum: paper-mode matrices omit "unknown", whose share must not vanish.
    support = np.array([row[4] for row in per_class_rows(figures)], dtype=float)
    rates = counts / np.maximum(support, 1)[:, None]
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (r, c), count in np.ndenumerate(counts):
        ax.text(
            c, r, str(count), ha="center", va="center", fontsize=8, color="white" if rates[r, c] > 0.5 else "black"
        )
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    hidden = figures.get("unknowns", 0)  # paper mode: "unknown" predictions have no column of their own
    ax.set_xlabel(f"predicted ({hidden} unknown not shown)" if hidden else "predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{title}\nn={figures['n']}, accuracy={figures['accuracy']:.2%}", fontsize=9)
    return image


def format_table(result: dict) -> str:
    """One line per subset and one for the pooled (micro) overall figures; every column but n is a rate."""
    header = (
        f"{'group':<10} {'n':>6} {'accuracy':>9} {'95% CI':>18} {'UAR':>7} {'macro-F1':>8} {'formed':>7} "
        f"{'unparsed':>8}"
    )
    lines = [f"extraction: {result['extraction']}", header, "-" * len(header)]
    for name, f in summary_rows(result):
        lines.append(
            f"{name:<10} {f['n']:>6} {f['accuracy']:>9.4f} {format_ci(f['accuracy_ci95']):>18} "
            f"{f['uar']:>7.4f} {f['macro_f1']:>8.4f} {f['well_formed_rate']:>7.4f} {f['unparsed_rate']:>8.4f}"
        )
    return "\n".join(lines)


def plot_story(
    path: str | Path,
    rows: Sequence[dict[str, Any]],
    curve: dict[str, list],
    lift: dict[str, Any],
    chance: float,
    confusions: Sequence[tuple[str, dict[str, Any]]],
) -> Path:
    """The quickstart's ``story.png``: accuracy per stage with 95% intervals and the paired lift, GRPO's reward and
    held-out accuracy over its steps, and two confusion matrices.

    ``rows``: per stage, its ``stage`` name, ``accuracy`` and ``ci95``; ``curve``: ``reward_steps`` and
    ``accuracy_reward`` (sampled completions), ``held_out_steps`` and ``held_out_accuracy`` (greedy); ``lift``:
    :func:`unifer.metrics.scoring.paired_lift`'s result; ``chance``: the chance accuracy line; ``confusions``:
    (title, :func:`~unifer.metrics.scoring.score` figures) of the two matrices, before and after."""
    from matplotlib.figure import Figure  # a bare Figure renders with Agg and never touches pyplot's GUI state

    fig = Figure(figsize=(12, 9), layout="constrained")
    bars, steps, *matrices = fig.subplots(2, 2).ravel()
    _draw_stage_bars(bars, rows, lift, chance)
    _draw_grpo_curve(steps, curve)
    for ax, (title, figures) in zip(matrices, confusions):
        draw_confusion(ax, figures, title)
    fig.savefig(path, dpi=100)
    return Path(path)


def _draw_stage_bars(ax, rows: Sequence[dict[str, Any]], lift: dict[str, Any], chance: float) -> None:
    names = [row["stage"] for row in rows]
    accuracy = np.array([row["accuracy"] for row in rows])
    ci = np.array([row["ci95"] for row in rows])
    ax.bar(names, accuracy, color=["#9bb7d4", "#4a7fb5", "#1f4e79"])
    ax.errorbar(names, accuracy, yerr=[accuracy - ci[:, 0], ci[:, 1] - accuracy], fmt="none", ecolor="black")
    for x, value in enumerate(accuracy):
        ax.text(x, value / 2, f"{value:.3f}", ha="center", color="white", fontweight="bold")
    ax.axhline(chance, color="grey", linestyle=":", label="chance")
    ax.set(ylim=(0, 1.1), ylabel="held-out accuracy (95% interval)")
    ax.set_title(
        f"Accuracy per stage\nGRPO - SFT: {lift['lift']:+.3f} (95% paired interval {lift['ci95'][0]:+.3f} to "
        f"{lift['ci95'][1]:+.3f})"
    )
    ax.legend(loc="lower right")


def _draw_grpo_curve(ax, curve: dict[str, list]) -> None:
    ax.plot(curve["reward_steps"], curve["accuracy_reward"], color="#d08c2f", label="accuracy reward (sampled)")
    ax.plot(curve["held_out_steps"], curve["held_out_accuracy"], "o-", color="#1f4e79", label="held-out (greedy)")
    ax.set(xlabel="GRPO step", ylabel="accuracy", title="GRPO: reward and held-out accuracy", ylim=(0, 1.05))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower right")
