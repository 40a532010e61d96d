"""``unifer eval``: evaluate a model on a FERBench-format benchmark (see :mod:`unifer.evaluation`)."""

from __future__ import annotations

from unifer.commands.options import at_least
from unifer.images import DEFAULT_IMAGE_SIZE

#: vLLM engine options, passed only when given (the transformers engine has no such knobs).
VLLM_OPTIONS = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len")


def run(args) -> int:
    from unifer.evaluation import evaluate_model
    from unifer.metrics.reports import format_table

    engine_kwargs = {name: getattr(args, name) for name in VLLM_OPTIONS if getattr(args, name) is not None}
    if engine_kwargs and args.backend != "vllm":
        raise ValueError(f"--{'/--'.join(n.replace('_', '-') for n in engine_kwargs)} need --backend vllm.")
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
        dtype=args.dtype,
        engine_kwargs=engine_kwargs,
    )
    if result is not None:
        print(format_table(result))
        print(f"wrote predictions.jsonl, metrics.json, report.md and confusion matrices to {args.output_dir}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a model on a FERBench-format benchmark (resumable)")
    parser.add_argument("--model", required=True, help="model folder or Hub id")
    parser.add_argument("--benchmark", required=True, help="benchmark folder (unifer data build …) or Hub id")
    parser.add_argument("--config", help="benchmark config (default: the one the benchmark's card marks default)")
    parser.add_argument("--subsets", nargs="+", help="only these subsets")
    parser.add_argument(
        "--limit", type=at_least(1), help="N items per subset, a seeded sample spread over the classes"
    )
    parser.add_argument("--backend", choices=["transformers", "vllm"], default="transformers")
    parser.add_argument("--batch-size", type=at_least(1), default=8)
    parser.add_argument("--max-new-tokens", type=at_least(1), default=1024)
    parser.add_argument(
        "--dtype",
        choices=["auto", "bfloat16", "float32"],
        default="auto",
        help="weights dtype: auto is bfloat16 on a GPU, float32 on a CPU; the official evaluation ran float32",
    )
    parser.add_argument("--image-size", type=at_least(0), default=DEFAULT_IMAGE_SIZE, help="0 keeps the original size")
    parser.add_argument("--no-reasoning", action="store_true", help="ask for the answer only (fast path)")
    parser.add_argument("--probabilities", action="store_true", help="also score every candidate label")
    parser.add_argument("--extraction", choices=["strict", "paper"], default="strict")
    parser.add_argument("--bootstrap", type=at_least(0), default=1000, help="resamples for the 95%% CI (0: off)")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument(
        "--overwrite", action="store_true", help="discard every earlier prediction in --output-dir and start over"
    )
    vllm = parser.add_argument_group("vLLM engine (--backend vllm)")
    vllm.add_argument("--tensor-parallel-size", type=at_least(1), help="GPUs holding one copy of the model")
    vllm.add_argument("--gpu-memory-utilization", type=float, help="share of each GPU's memory vLLM may take")
    vllm.add_argument("--max-model-len", type=at_least(1), help="longest prompt + response, in tokens")
    parser.set_defaults(handler=run)
