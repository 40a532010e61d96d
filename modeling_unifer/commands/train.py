"""``unifer train sft|grpo --config RECIPE [--key value …]``: registers the training scripts' parser.

TRL owns these options (``TrlParser`` over ``FERDataArguments``, the stage's config and ``ModelConfig``), and
building that parser imports TRL and torch: as ``trl``'s own CLI does, ``unifer`` registers the stage here and hands
what follows it to :func:`unifer.trainers.train.cli_main`, which builds the parser (``make_parser(stage)``) when
the command runs. ``-v``/``-q`` are ``unifer``'s, wherever they stand."""

from __future__ import annotations

import argparse
from pathlib import Path

from unifer.commands.parsing import UniferArgumentParser, subcommand_parser
from unifer.trainers.train import STAGES, recipe_names

VERBOSITY = {"-v": "verbose", "--verbose": "verbose", "-q": "quiet", "--quiet": "quiet"}


def short_help(stage: str) -> str:
    """``unifer train STAGE --help``: the recipe first, then how to override it; ``--help-all`` lists every option
    (TRL's config, ``ModelConfig`` and the FER data options: hundreds)."""
    return (
        f"usage: unifer train {stage} --config RECIPE [--KEY VALUE ...] [-v | -q]\n\n"
        f"  --config RECIPE  a shipped recipe's name or a YAML path; {stage} recipes: {', '.join(recipe_names(stage))}\n"
        "  --KEY VALUE      override any key of the recipe, e.g. --learning_rate 1e-5 --output_dir runs/x\n"
        "  --help-all       every option with its default (TRL's trainer config, ModelConfig, the FER data options)\n"
        "  -v, -q           more or less logging"
    )


def check_recipe_stage(stage: str, options: list[str]) -> None:
    """Refuse a shipped recipe of the other stage by name, before TRL reports its keys as unknown."""
    given = [value for option, value in zip(options, options[1:]) if option == "--config"]
    given += [option.split("=", 1)[1] for option in options if option.startswith("--config=")]
    for recipe in given:
        name = Path(recipe).stem
        for other in STAGES:
            if other != stage and name in recipe_names(other):
                raise ValueError(
                    f"{recipe} is a {other} recipe: run `unifer train {other} --config {recipe}`, or give "
                    f"`unifer train {stage}` one of {', '.join(recipe_names(stage))}."
                )


def run(args: argparse.Namespace) -> int:
    from unifer.commands import configure_logging
    from unifer.trainers.train import cli_main

    if any(option in ("-h", "--help") for option in args.options):
        print(short_help(args.stage))
        return 0
    check_recipe_stage(args.stage, args.options)
    args.options = ["--help" if option == "--help-all" else option for option in args.options]
    given = {VERBOSITY[option] for option in args.options if option in VERBOSITY}
    if given:
        configure_logging(verbose="verbose" in given, quiet="quiet" in given)
    return cli_main([args.stage, *(option for option in args.options if option not in VERBOSITY)])


def make_parser(subparsers=None) -> UniferArgumentParser:
    help_text = "post-train a model: sft (CoT cold start) or grpo (RL with FER rewards)"
    description = (
        "Run a training stage from a recipe, by name or path: unifer train sft --config sft_qwen2_5_vl_7b "
        f"[--key value ...]. `unifer train sft --help-all` lists every option. Shipped recipes: "
        f"{', '.join(recipe_names())}."
    )
    parser = subcommand_parser(subparsers, "train", help=help_text, description=description)
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        help="--config RECIPE (a shipped recipe's name or a YAML path) and overrides of any recipe key "
        "(--learning_rate 1e-5 ...)",
    )
    parser.set_defaults(handler=run)
    return parser
