"""``unifer eval``: evaluate a model on a FERBench-format benchmark (see :mod:`unifer.evaluation`)."""

from __future__ import annotations

from unifer.commands.parsing import UniferArgumentParser, command_parser
from unifer.configs import EvalConfig


def run(config: EvalConfig) -> int:
    from unifer.evaluation import evaluate_model
    from unifer.metrics.reports import format_table

    result = evaluate_model(config)
    if result is not None:
        print(format_table(result))
        print(f"wrote predictions.jsonl, metrics.json, report.md and confusion matrices to {config.output_dir}")
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    return command_parser(
        subparsers, "eval", EvalConfig, run, help="evaluate a model on a FERBench-format benchmark (resumable)"
    )
