"""Reports of scored FER results: the terminal table, ``metrics.json``, ``report.md`` and confusion-matrix PNGs.

Input is the dict :func:`unifer.metrics.scoring.score` returns; matplotlib is imported only to draw figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


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


def format_ci(ci: list[float] | None) -> str:
    return "–" if ci is None else f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def write_report(result: dict[str, Any], out_dir: str | Path, *, config: dict[str, Any] | None = None) -> Path:
    """Write ``metrics.json``, ``report.md`` and ``confusion_<group>.png`` per subset and overall; return the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(_markdown(result, config), encoding="utf-8")
    for name, figures in summary_rows(result):
        _plot_confusion(figures, f"{name} ({result['extraction']} extraction)", out / f"confusion_{name}.png")
    return out


def _markdown(result: dict[str, Any], config: dict[str, Any] | None) -> str:
    lines = [
        f"# FER scoring report ({result['extraction']} extraction)",
        "",
        "| group | n | errors | accuracy | 95% CI | UAR | macro F1 | well-formed | unparsed |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for name, f in summary_rows(result):
        lines.append(
            f"| {name} | {f['n']} | {f['errors']} | {f['accuracy']:.4f} | {format_ci(f['accuracy_ci95'])} "
            f"| {f['uar']:.4f} | {f['macro_f1']:.4f} | {f['well_formed_rate']:.4f} "
            f"| {f['unparsed_count']} ({f['unparsed_rate']:.2%}) |"
        )
    for name, figures in summary_rows(result):
        lines += [
            "",
            f"## Per class: {name}",
            "",
            "| label | precision | recall | F1 | support |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {label} | {p:.4f} | {r:.4f} | {f1:.4f} | {s:g} |" for label, p, r, f1, s in per_class_rows(figures)
        ]
    if config is not None:
        from unifer.environment import package_versions

        lines += ["", "## Run config", "", "| key | value |", "|---|---|"]
        lines += [f"| {key} | `{json.dumps(value)}` |" for key, value in config.items()]
        lines += ["", "## Package versions", "", "| package | version |", "|---|---|"]
        lines += [f"| {name} | {version} |" for name, version in package_versions().items() if version]
    return "\n".join(lines) + "\n"


def _plot_confusion(figures: dict[str, Any], title: str, path: Path) -> None:
    """Row-normalised confusion matrix (rate of each gold class's items) with the counts written in the cells."""
    from matplotlib.figure import Figure  # a bare Figure renders with Agg and never touches pyplot's GUI state

    counts = np.array(figures["confusion_matrix"])
    columns = figures["confusion_labels"]
    rows = columns[: len(counts)]
    # Divide by support, not the row sum: paper-mode matrices omit "unknown", whose share must not vanish.
    support = np.array([row[4] for row in per_class_rows(figures)], dtype=float)
    rates = counts / np.maximum(support, 1)[:, None]
    fig = Figure(figsize=(1.2 + 0.75 * len(columns), 1.2 + 0.7 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
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
    fig.colorbar(image, ax=ax, label="share of gold class")
    fig.savefig(path, dpi=120)


def format_table(result: dict) -> str:
    """One line per subset and one for the pooled overall figures."""
    header = (
        f"{'group':<10} {'n':>6} {'accuracy':>9} {'95% CI':>18} {'UAR':>7} {'macro-F1':>8} {'formed':>7} "
        f"{'unparsed':>8}"
    )
    lines = [f"extraction: {result['extraction']}", header, "-" * len(header)]
    for name, f in summary_rows(result):
        lines.append(
            f"{name:<10} {f['n']:>6} {f['accuracy']:>9.4f} {format_ci(f['accuracy_ci95']):>18} "
            f"{f['uar']:>7.4f} {f['macro_f1']:>8.4f} {f['well_formed_rate']:>7.4f} {f['unparsed_count']:>8}"
        )
    return "\n".join(lines)
