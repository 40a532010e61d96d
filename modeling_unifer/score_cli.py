"""``unifer score``: score predictions.jsonl or official ``*_results.json`` files and print a compact table."""
from __future__ import annotations


def format_table(result: dict) -> str:
    """One line per subset and one for the pooled overall figures."""
    from .scoring import format_ci, summary_rows

    header = (f"{'group':<10} {'n':>6} {'accuracy':>9} {'95% CI':>18} {'UAR':>7} {'macro-F1':>8} {'formed':>7} "
              f"{'unparsed':>8}")
    lines = [f"extraction: {result['extraction']}", header, "-" * len(header)]
    for name, f in summary_rows(result):
        lines.append(f"{name:<10} {f['n']:>6} {f['accuracy']:>9.4f} {format_ci(f['accuracy_ci95']):>18} "
                     f"{f['uar']:>7.4f} {f['macro_f1']:>8.4f} {f['well_formed_rate']:>7.4f} {f['unparsed_count']:>8}")
    return "\n".join(lines)


def run(args) -> int:
    from .scoring import load_predictions, score, write_report

    result = score(**load_predictions(args.predictions), extraction=args.extraction, bootstrap=args.bootstrap,
                   seed=args.seed)
    print(format_table(result))
    if args.output_dir:
        config = {"predictions": args.predictions, "extraction": args.extraction, "bootstrap": args.bootstrap,
                  "seed": args.seed}
        print(f"report: {write_report(result, args.output_dir, config=config)}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("score", help="score model responses (predictions.jsonl or *_results.json)")
    parser.add_argument("predictions", nargs="+", metavar="PREDICTIONS",
                        help="predictions.jsonl files and/or official *_results.json files")
    parser.add_argument("--extraction", choices=("strict", "paper"), default="strict",
                        help="strict (default) or the official evaluator's extraction (paper)")
    parser.add_argument("--output-dir", help="write metrics.json, report.md and confusion PNGs here")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CI (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.set_defaults(handler=run)
