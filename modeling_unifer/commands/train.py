"""``unifer train sft|grpo --config RECIPE [--key value …]``: registers the training scripts' parser.

TRL owns these options (``TrlParser`` over ``FERDataArguments``, the stage's config and ``ModelConfig``), and
building that parser imports TRL and torch: as ``trl``'s own CLI does, ``unifer`` registers the stage here and hands
what follows it to :func:`unifer.trainers.train.cli_main`, which builds the parser (``make_parser(stage)``) when
the command runs. ``-v``/``-q`` are ``unifer``'s, wherever they stand."""

from __future__ import annotations

import argparse

from unifer.commands.parsing import UniferArgumentParser
from unifer.trainers.train import STAGES, recipe_names

VERBOSITY = {"-v": "verbose", "--verbose": "verbose", "-q": "quiet", "--quiet": "quiet"}


def run(args: argparse.Namespace) -> int:
    from unifer.commands import configure_logging
    from unifer.trainers.train import cli_main

    given = {VERBOSITY[option] for option in args.options if option in VERBOSITY}
    if given:
        configure_logging(verbose="verbose" in given, quiet="quiet" in given)
    return cli_main([args.stage, *(option for option in args.options if option not in VERBOSITY)])


def make_parser(subparsers=None) -> UniferArgumentParser:
    help_text = "post-train a model: sft (CoT cold start) or grpo (RL with FER rewards)"
    description = (
        "Run a training stage from a recipe, by name or path: unifer train sft --config sft_qwen2_5_vl_7b "
        f"[--key value ...]. `unifer train sft --help` lists every option. Shipped recipes: {', '.join(recipe_names())}."
    )
    if subparsers is None:
        parser = UniferArgumentParser(prog="unifer train", description=description)
    else:
        parser = subparsers.add_parser("train", help=help_text, description=description)
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        help="--config RECIPE (a shipped recipe's name or a YAML path) and overrides of any recipe key "
        "(--learning_rate 1e-5 ...)",
    )
    parser.set_defaults(handler=run)
    return parser
