"""``unifer score``: score predictions (run folders, predictions.jsonl, official ``*_results.json``) and print a
compact table."""

from __future__ import annotations

from dataclasses import asdict

from unifer.commands.parsing import UniferArgumentParser, command_parser
from unifer.configs import ScoreConfig


def run(config: ScoreConfig) -> int:
    from unifer.metrics.prediction_files import prediction_columns, read_prediction_records
    from unifer.metrics.reports import format_table, write_report
    from unifer.metrics.scoring import score

    records = read_prediction_records(config.predictions)
    result = score(
        **prediction_columns(records), extraction=config.extraction, bootstrap=config.bootstrap, seed=config.seed
    )
    print(format_table(result))
    if config.output_dir:
        title = ", ".join(config.predictions)
        report = write_report(result, config.output_dir, config=asdict(config), records=records, title=title)
        print(f"report: {report}")
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    return command_parser(
        subparsers,
        "score",
        ScoreConfig,
        run,
        help="score model responses (run folders, predictions.jsonl, *_results.json)",
    )
