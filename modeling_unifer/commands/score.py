"""``unifer score``: score predictions (run folders, predictions.jsonl, official ``*_results.json``) and print a
compact table."""

from __future__ import annotations

from unifer.commands.options import at_least


def run(args) -> int:
    from unifer.metrics.reports import format_table, write_report
    from unifer.metrics.scoring import prediction_columns, read_prediction_records, score

    records = read_prediction_records(args.predictions)
    result = score(**prediction_columns(records), extraction=args.extraction, bootstrap=args.bootstrap, seed=args.seed)
    print(format_table(result))
    if args.output_dir:
        config = {
            "predictions": args.predictions,
            "extraction": args.extraction,
            "bootstrap": args.bootstrap,
            "seed": args.seed,
        }
        title = ", ".join(map(str, args.predictions))
        print(f"report: {write_report(result, args.output_dir, config=config, records=records, title=title)}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "score", help="score model responses (run folders, predictions.jsonl, *_results.json)"
    )
    parser.add_argument(
        "predictions",
        nargs="+",
        metavar="PREDICTIONS",
        help="`unifer eval` output folders, predictions.jsonl files and/or official *_results.json files (an item "
        "held by two of them is refused)",
    )
    parser.add_argument(
        "--extraction",
        choices=("strict", "paper"),
        default="strict",
        help="strict (default) or the official evaluator's extraction (paper)",
    )
    parser.add_argument("--output-dir", help="write metrics.json, report.md and confusion PNGs here")
    parser.add_argument(
        "--bootstrap", type=at_least(0), default=1000, help="bootstrap resamples for the 95%% CI (0: none)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.set_defaults(handler=run)
