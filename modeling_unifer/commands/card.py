"""``unifer card``: write a Hub model card with FERBench results (see :mod:`unifer.model_card`)."""

from __future__ import annotations

import json
from pathlib import Path

from unifer.model_card import DEFAULT_BASE_MODEL


def run(args) -> int:
    from unifer.model_card import build_card

    metrics = json.loads(Path(args.metrics).read_text()) if args.metrics else None
    card = build_card(
        args.model,
        metrics,
        model_name=args.name,
        base_model=args.base_model,
        license=args.license,
        synthetic=args.synthetic,
    )
    out = Path(args.out or Path(args.model) / "README.md")
    card.save(out)
    print(f"wrote {out}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("card", help="write a Hub model card with FERBench results")
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--metrics", help="metrics.json written by unifer eval")
    parser.add_argument("--name", help="model name / Hub id shown in the card (default: folder name)")
    parser.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--license", default="apache-2.0")
    parser.add_argument("--synthetic", action="store_true", help="mark the card as a synthetic-data demo model")
    parser.add_argument("--out", help="output path (default: MODEL/README.md)")
    parser.set_defaults(handler=run)
