"""``unifer quickstart``: the offline pipeline on SynFER (see :mod:`unifer.quickstart`)."""

from __future__ import annotations

import time
from pathlib import Path


def run(args) -> int:
    from unifer.quickstart import BANNER, FAST, Plan, run_quickstart, table

    plan = FAST if args.fast else Plan()
    print(BANNER, flush=True)
    started = time.perf_counter()
    rows = run_quickstart(Path(args.out), plan, args.seed)
    total = time.perf_counter() - started
    print(
        f"\n{table(rows)}\n\nchance accuracy {1 / len(plan.emotions):.3f}; total {total:.0f} s "
        f"(budget {args.minutes_budget:.0f} min). Report: {Path(args.out) / 'report.md'}; "
        f"model: {Path(args.out) / 'final-model'}"
    )
    if total > args.minutes_budget * 60:
        print(f"warning: the run took longer than --minutes-budget {args.minutes_budget}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("quickstart", help="offline pipeline on SynFER: data, SFT, GRPO, evaluation")
    parser.add_argument("--out", default="quickstart_out", help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes-budget", type=float, default=10.0, help="warn when the run takes longer")
    parser.add_argument("--fast", action="store_true", help="a shortened run (CI): fewer faces and steps")
    parser.set_defaults(handler=run)
