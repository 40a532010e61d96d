"""``unifer eval``: evaluate a model on a FERBench-format benchmark (see :mod:`unifer.evaluation`)."""

from __future__ import annotations

from unifer.images import DEFAULT_IMAGE_SIZE


def run(args) -> int:
    from unifer.evaluation import evaluate_model
    from unifer.metrics.reports import format_table

    result = evaluate_model(
        args.model,
        args.benchmark,
        args.output_dir,
        config=args.config,
        subsets=args.subsets,
        limit=args.limit,
        backend=args.backend,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        extraction=args.extraction,
        probabilities=args.probabilities,
        image_size=args.image_size or None,
        reasoning=not args.no_reasoning,
        overwrite=args.overwrite,
        bootstrap=args.bootstrap,
    )
    if result is not None:
        print(format_table(result))
        print(f"wrote predictions.jsonl, metrics.json, report.md and confusion matrices to {args.output_dir}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a model on a FERBench-format benchmark (resumable)")
    parser.add_argument("--model", required=True, help="model folder or Hub id")
    parser.add_argument("--benchmark", required=True, help="benchmark folder (unifer data build …) or Hub id")
    parser.add_argument("--config", default="all", help="benchmark config (default: %(default)s)")
    parser.add_argument("--subsets", nargs="+", help="only these subsets")
    parser.add_argument("--limit", type=int, help="first N items of each subset")
    parser.add_argument("--backend", choices=["transformers", "vllm"], default="transformers")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=1024)
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE, help="0 keeps the original size")
    parser.add_argument("--no-reasoning", action="store_true", help="ask for the answer only (fast path)")
    parser.add_argument("--probabilities", action="store_true", help="also score every candidate label")
    parser.add_argument("--extraction", choices=["strict", "paper"], default="strict")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the 95%% CI (0: off)")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--overwrite", action="store_true", help="discard earlier predictions in --output-dir")
    parser.set_defaults(handler=run)
