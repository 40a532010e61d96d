"""``unifer quickstart``: the offline pipeline on SynFER (see :mod:`unifer.quickstart`)."""

from __future__ import annotations

from pathlib import Path

from unifer.commands.parsing import UniferArgumentParser, command_parser
from unifer.configs import QuickstartConfig


def run(config: QuickstartConfig) -> int:
    from unifer.quickstart import BANNER, FAST, Plan, lift_line, run_quickstart, table

    plan = FAST if config.fast else Plan()
    out = Path(config.out)
    print(BANNER, flush=True)
    summary = run_quickstart(out, plan, config.seed)
    total = summary["total_seconds"]
    print(
        f"\n{table(summary['rows'])}\n\n{lift_line(summary['grpo_lift'])}\n"
        f"chance accuracy {1 / len(plan.emotions):.3f}; total {total:.0f} s (budget {config.minutes_budget:.0f} "
        f"min). Report: {out / 'report.md'} (pictures: {out / 'story.png'}); model: {out / 'final-model'}"
    )
    if total > config.minutes_budget * 60:
        print(f"warning: the run took longer than --minutes-budget {config.minutes_budget}")
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    return command_parser(
        subparsers, "quickstart", QuickstartConfig, run, help="offline pipeline on SynFER: data, SFT, GRPO, evaluation"
    )
