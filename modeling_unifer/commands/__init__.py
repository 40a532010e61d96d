"""The ``unifer`` command line: argument parsing and printing only (the library never imports this package).

Each subcommand module registers itself with a small ``add_parser`` function and imports the library only when
run, so ``unifer --help`` stays instant. ``python -m unifer.commands …`` (e.g. under ``accelerate launch``) is
the same as ``unifer …``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# Modules that contribute subcommands: each defines ``add_parser(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "unifer.commands.info",
    "unifer.commands.quickstart",
    "unifer.commands.score",
    "unifer.commands.eval",
    "unifer.commands.card",
    "unifer.commands.train",
    "unifer.commands.data",
    "unifer.commands.space",
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
