"""``unifer quickstart``: the offline pipeline on SynFER (see :mod:`unifer.quickstart`)."""

from __future__ import annotations

from pathlib import Path


def run(args) -> int:
    from unifer.quickstart import BANNER, FAST, Plan, lift_line, run_quickstart, table

    plan = FAST if args.fast else Plan()
    print(BANNER, flush=True)
    summary = run_quickstart(Path(args.out), plan, args.seed)
    total = summary["total_seconds"]
    print(
        f"\n{table(summary['rows'])}\n\n{lift_line(summary['grpo_lift'])}\n"
        f"chance accuracy {1 / len(plan.emotions):.3f}; total {total:.0f} s (budget {args.minutes_budget:.0f} min). "
        f"Report: {Path(args.out) / 'report.md'} (pictures: {Path(args.out) / 'story.png'}); "
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
