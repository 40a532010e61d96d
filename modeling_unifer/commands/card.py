"""``unifer card``: write a Hub model card with FERBench results, stating only given facts (see
:mod:`unifer.model_card`)."""

from __future__ import annotations

from pathlib import Path

from unifer.commands.parsing import UniferArgumentParser, command_parser
from unifer.configs import CardConfig


def run(config: CardConfig) -> int:
    from unifer.model_card import build_card, save_card

    out = Path(config.out or Path(config.model) / "README.md")
    if out.exists() and not config.overwrite:  # checked before any work; save_card checks again
        raise ValueError(f"{out} already exists; pass --overwrite to replace it (or --out to write elsewhere).")
    card = build_card(
        config.model,
        config.metrics,
        model_name=config.name,
        base_model=config.base_model,
        benchmark=config.benchmark,
        benchmark_id=config.benchmark_id,
        train_datasets=config.train_dataset,
        license=config.license,
        synthetic=config.synthetic,
    )
    print(f"wrote {save_card(card, out, overwrite=config.overwrite)}")
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    return command_parser(subparsers, "card", CardConfig, run, help="write a Hub model card with FERBench results")
