"""The ``unifer`` command line. Each subcommand registers itself with a small ``add_parser`` function and imports
its heavy dependencies only when run, so ``unifer --help`` stays instant."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Sequence

# Modules that contribute subcommands: each defines ``add_parser(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "unifer.info",
    "unifer.quickstart",
    "unifer.score_cli",
    "unifer.evaluation",
    "unifer.model_card",
    "unifer.train_cli",
    "unifer.data_cli",
    "unifer.space_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unifer",
        description="UniFER: facial expression recognition with multimodal LLMs (FERBench, training, inference).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int | None] = args.handler
    try:
        return handler(args) or 0
    except (ValueError, FileNotFoundError) as err:
        # Bad input is reported as one clear line, not a traceback.
        print(f"unifer {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
