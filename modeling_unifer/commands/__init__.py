"""The ``unifer`` command line: argument parsing and printing only (the library never imports this package).

Each subcommand module has a ``make_parser(subparsers=None)`` (as TRL's scripts do): its options are a config
dataclass of the library (``unifer.configs``) parsed by :class:`~unifer.commands.parsing.UniferArgumentParser`;
its ``run(config)`` imports the heavy parts of the library (torch, datasets) only when run, so ``unifer --help``
loads transformers' argument parser and no model code.
``python -m unifer.commands …`` (e.g. under ``accelerate launch``) is the same as ``unifer …``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from unifer.commands.parsing import UniferArgumentParser, parsed_configs

# Modules that contribute subcommands: each defines ``make_parser(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "unifer.commands.info",
    "unifer.commands.quickstart",
    "unifer.commands.score",
    "unifer.commands.compare",
    "unifer.commands.eval",
    "unifer.commands.predict",
    "unifer.commands.lmms_eval",
    "unifer.commands.card",
    "unifer.commands.train",
    "unifer.commands.data",
    "unifer.commands.space",
    "unifer.commands.export",
)


def build_parser() -> argparse.ArgumentParser:
    parser = UniferArgumentParser(
        prog="unifer",
        description="UniFER: facial expression recognition with multimodal LLMs (FERBench, training, inference).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).make_parser(subparsers)
    return parser


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """The library logs through ``logging`` (``unifer.*`` loggers); the CLI shows its progress (INFO) by default."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    unifer_logger = logging.getLogger("unifer")
    unifer_logger.handlers[:] = [handler]
    unifer_logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "verbose", False), getattr(args, "quiet", False))
    handler: Callable[..., int | None] = args.handler
    try:
        return handler(*parsed_configs(args)) or 0
    except ModuleNotFoundError as err:
        # An optional dependency is missing: name the extra that brings it, not a traceback.
        print(f"unifer {args.command}: error: {missing_extra_message(args.command, err.name or '')}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:
        # Bad input is reported as one clear line, not a traceback.
        print(f"unifer {args.command}: error: {err}", file=sys.stderr)
        return 2


#: Import names whose distribution is named differently.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow", "lmms_eval": "lmms-eval"}
#: The extra each command's docs name; another extra is suggested only when this one lacks the package.
COMMAND_EXTRAS = {
    "eval": "eval",
    "score": "eval",
    "train": "train",
    "data": "train",
    "quickstart": "train",
    "space": "space",
    "predict": "faces",
}


def missing_extra_message(command: str, module: str) -> str:
    """ "`unifer eval` needs pip install 'unifer[eval]'", from the extras that the installed unifer declares."""
    import re
    from importlib import metadata

    distribution = DISTRIBUTIONS.get(module.split(".")[0], module.split(".")[0])
    extras = set()
    for requirement in metadata.requires("unifer") or []:
        name = re.split(r"[ ;<>=!~\[]", requirement, maxsplit=1)[0]
        extra = re.search(r"extra\s*==\s*[\"']([^\"']+)", requirement)
        if extra and name.lower().replace("_", "-") == distribution.lower().replace("_", "-"):
            extras.add(extra.group(1))
    if not extras:
        return f"`unifer {command}` needs the package {distribution!r}: pip install {distribution}"
    extra = COMMAND_EXTRAS.get(command) if COMMAND_EXTRAS.get(command) in extras else sorted(extras)[0]
    return f"`unifer {command}` needs pip install 'unifer[{extra}]' (missing: {distribution})"
