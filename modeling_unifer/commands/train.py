"""``unifer train sft|grpo --config RECIPE [--key value …]``: registers the training scripts' parser."""

from __future__ import annotations

import argparse

from unifer.trainers.train import STAGES, recipe_names


def run(args) -> int:
    from unifer.trainers.train import cli_main

    return cli_main([args.stage, *args.options])


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="post-train a model: sft (CoT cold start) or grpo (RL with FER rewards)",
        description="Run a training stage from a recipe, by name or path: unifer train sft --config "
        "sft_qwen2_5_vl_7b [--key value ...]. `unifer train sft --help` lists every option. Shipped recipes: "
        f"{', '.join(recipe_names())}.",
    )
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        help="--config RECIPE (a shipped recipe's name or a YAML path) and overrides of any recipe key "
        "(--learning_rate 1e-5 ...)",
    )
    parser.set_defaults(handler=run)
