"""``unifer card``: write a Hub model card with FERBench results, stating only given facts (see
:mod:`unifer.model_card`)."""

from __future__ import annotations

from pathlib import Path


def run(args) -> int:
    from unifer.model_card import build_card, save_card

    out = Path(args.out or Path(args.model) / "README.md")
    if out.exists() and not args.overwrite:  # checked before any work; save_card checks again
        raise ValueError(f"{out} already exists; pass --overwrite to replace it (or --out to write elsewhere).")
    card = build_card(
        args.model,
        args.metrics,
        model_name=args.name,
        base_model=args.base_model,
        benchmark=args.benchmark,
        benchmark_id=args.benchmark_id,
        train_datasets=args.train_dataset,
        license=args.license,
        synthetic=args.synthetic,
    )
    print(f"wrote {save_card(card, out, overwrite=args.overwrite)}")
    return 0


def add_parser(subparsers) -> None:
    from unifer.model_card import DEFAULT_BASE_MODEL

    parser = subparsers.add_parser("card", help="write a Hub model card with FERBench results")
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument(
        "--metrics", help="metrics.json written by unifer eval (its run.json beside it names the benchmark)"
    )
    parser.add_argument(
        "--name", help="title; when a Hub id (OWNER/NAME), also the id in the usage snippet (default: folder name)"
    )
    parser.add_argument(
        "--base-model", help=f"the model it was trained from, e.g. {DEFAULT_BASE_MODEL} (default: the folder's card's)"
    )
    parser.add_argument("--benchmark", help="benchmark folder or Hub id, when no run.json beside --metrics names it")
    parser.add_argument(
        "--benchmark-id", help="the benchmark's Hub id (default: where --push-to-hub put the benchmark folder)"
    )
    parser.add_argument(
        "--train-dataset",
        action="append",
        default=[],
        metavar="FOLDER_OR_ID",
        help="a training dataset (repeatable): a folder (its Hub id is where --push-to-hub put it) or a Hub id",
    )
    parser.add_argument("--license", default="apache-2.0")
    parser.add_argument(
        "--synthetic", action="store_true", help="mark the model as trained or evaluated on synthetic data"
    )
    parser.add_argument("--out", help="output path (default: MODEL/README.md)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing card")
    parser.set_defaults(handler=run)
