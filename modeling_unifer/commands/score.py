"""``unifer score``: score predictions.jsonl or official ``*_results.json`` files and print a compact table."""

from __future__ import annotations


def run(args) -> int:
    from unifer.metrics.reports import format_table, write_report
    from unifer.metrics.scoring import load_predictions, score

    result = score(
        **load_predictions(args.predictions), extraction=args.extraction, bootstrap=args.bootstrap, seed=args.seed
    )
    print(format_table(result))
    if args.output_dir:
        config = {
            "predictions": args.predictions,
            "extraction": args.extraction,
            "bootstrap": args.bootstrap,
            "seed": args.seed,
        }
        print(f"report: {write_report(result, args.output_dir, config=config)}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("score", help="score model responses (predictions.jsonl or *_results.json)")
    parser.add_argument(
        "predictions",
        nargs="+",
        metavar="PREDICTIONS",
        help="predictions.jsonl files and/or official *_results.json files",
    )
    parser.add_argument(
        "--extraction",
        choices=("strict", "paper"),
        default="strict",
        help="strict (default) or the official evaluator's extraction (paper)",
    )
    parser.add_argument("--output-dir", help="write metrics.json, report.md and confusion PNGs here")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CI (0: none)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.set_defaults(handler=run)
