"""``unifer eval``: generate answers for a FERBench-format benchmark, resumably, then score them.

Predictions are appended to ``predictions.jsonl`` and flushed to disk batch by batch. A run killed at any moment
(SIGKILL included) and started again with the same arguments generates only what is missing; a half-written last
line is cut off. The run's settings are kept in ``run.json``: a different model, prompt or generation config
refuses to mix into old predictions unless ``overwrite=True`` starts over. Under ``accelerate launch`` every
rank takes a strided share of the items and writes its own file; rank 0 merges them and scores.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from .images import DEFAULT_IMAGE_SIZE
from .prompts import DEFAULT_SYSTEM_PROMPT, QUESTION_TEMPLATE, DIRECT_QUESTION_TEMPLATE

PREDICTIONS = "predictions.jsonl"


def load_benchmark(benchmark: str, config: str = "all", subsets: Sequence[str] | None = None,
                   limit: int | None = None):
    """A FERBench-format split (local folder or Hub id) as a ``datasets.Dataset`` with undecoded images,
    filtered to ``subsets`` and to the first ``limit`` items of each subset."""
    import datasets

    dataset = datasets.load_dataset(benchmark, config, split="test")
    dataset = dataset.cast_column("image", datasets.Image(decode=False))
    if subsets:
        unknown = set(subsets) - set(dataset.unique("subset"))
        if unknown:
            raise ValueError(f"Subsets {sorted(unknown)} are not in {benchmark} ({config}); "
                             f"it has {sorted(dataset.unique('subset'))}.")
        dataset = dataset.filter(lambda subset: subset in subsets, input_columns="subset")
    if limit is not None:
        seen: dict[str, int] = {}

        def keep(subset: str) -> bool:
            seen[subset] = seen.get(subset, 0) + 1
            return seen[subset] <= limit

        dataset = dataset.filter(keep, input_columns="subset")
    return dataset


def gold_labels(dataset) -> list[str]:
    """Gold labels as candidate names, whether the column is a ``ClassLabel`` or a string."""
    feature = dataset.features["label"]
    column = dataset["label"]
    return [feature.int2str(v) for v in column] if hasattr(feature, "int2str") else list(column)


def model_fingerprint(model: str) -> str:
    """Identifies a model's weights cheaply: its config plus each weight file's size, head and tail (a retrained
    checkpoint changes them; hashing 15 GB would not be cheap). A Hub id is identified by name."""
    path = Path(model)
    if not path.is_dir():
        return f"name:{model}"
    digest = hashlib.sha256()
    for item in sorted(path.iterdir()):
        if item.suffix in (".json", ".safetensors", ".bin") and item.is_file():
            size = item.stat().st_size
            digest.update(f"{item.name}:{size}".encode())
            with item.open("rb") as handle:
                digest.update(handle.read(1 << 20))
                handle.seek(max(0, size - (1 << 20)))
                digest.update(handle.read())
    return digest.hexdigest()


def run_settings(model: str, benchmark: str, *, backend: str, max_new_tokens: int, image_size: int | None,
                 reasoning: bool, probabilities: bool) -> dict[str, Any]:
    """What determines the predictions; a resumed run must match it exactly."""
    prompt = (QUESTION_TEMPLATE if reasoning else DIRECT_QUESTION_TEMPLATE) + DEFAULT_SYSTEM_PROMPT
    return {"model": str(model), "model_fingerprint": model_fingerprint(str(model)), "benchmark": str(benchmark),
            "backend": backend, "max_new_tokens": max_new_tokens, "image_size": image_size,
            "reasoning": reasoning, "probabilities": probabilities, "do_sample": False,
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest()}


def check_or_start(output_dir: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Refuse to mix predictions made under other settings; ``overwrite`` clears the old run instead."""
    run_file = output_dir / "run.json"
    if overwrite:
        for old in output_dir.glob("predictions*.jsonl"):
            old.unlink()
    elif run_file.exists():
        old = json.loads(run_file.read_text())
        changed = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if changed:
            details = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ValueError(f"{output_dir} holds predictions made with other settings ({details}). "
                             "Use another --output-dir, or --overwrite to start over.")
    output_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(settings, indent=2))


def read_done(path: Path, *, repair: bool = True) -> dict[str, dict[str, Any]]:
    """Records already in a predictions file, by id. A torn last line (a kill mid-write) is ignored and, with
    ``repair``, cut off the file so appending continues on a clean line."""
    if not path.exists():
        return {}
    done: dict[str, dict[str, Any]] = {}
    good_bytes = 0
    with path.open("rb") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if not line.endswith(b"\n"):
                break
            done[record["id"]] = record
            good_bytes += len(line)
    if repair and good_bytes < path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(good_bytes)
    return done


def _append(handle, records: list[dict[str, Any]]) -> None:
    handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    handle.flush()
    os.fsync(handle.fileno())


def _shard() -> tuple[int, int, Any]:
    """(rank, world size, accelerate state or None): one process unless launched by accelerate/torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, None
    from accelerate import PartialState

    state = PartialState()
    return state.process_index, state.num_processes, state


def generate_missing(engine, dataset, golds: list[str], path: Path, todo: list[int], *, batch_size: int,
                     max_new_tokens: int, image_size: int | None, reasoning: bool, probabilities: bool) -> int:
    """Generate the dataset rows ``todo``, appending each batch to ``path``; returns the count."""
    from tqdm.auto import tqdm

    from .answers import extract_label, is_well_formed
    from .inference import make_requests

    bar = tqdm(total=len(todo), desc="generating", unit="item", dynamic_ncols=True)
    chunk = max(batch_size * 4, 32)  # prepare images a chunk at a time: bounded memory, batches still sorted
    with path.open("a", encoding="utf-8") as handle:
        for start in range(0, len(todo), chunk):
            rows = [dataset[i] for i in todo[start:start + chunk]]
            requests = [make_requests([row["image"]], row["candidate_labels"], reasoning=reasoning,
                                      image_size=image_size)[0] for row in rows]
            for batch in engine.generate_batches(requests, batch_size=batch_size, max_new_tokens=max_new_tokens):
                texts = [generation.text for _, generation in batch]
                scores = (engine.score_candidates([requests[j] for j, _ in batch], texts)
                          if probabilities else [None] * len(batch))
                records = []
                for (j, generation), probs in zip(batch, scores):
                    row, cands = rows[j], rows[j]["candidate_labels"]
                    records.append({
                        "id": row["id"], "subset": row["subset"], "label": golds[todo[start + j]],
                        "candidate_labels": cands, "response": generation.text,
                        "parsed_label": extract_label(generation.text, cands),
                        "well_formed": is_well_formed(generation.text), "probabilities": probs,
                        "num_tokens": generation.num_tokens, "seconds": round(generation.seconds, 4)})
                _append(handle, records)
                bar.update(len(records))
    bar.close()
    return len(todo)


def merge_predictions(output_dir: Path, order: Sequence[str]) -> Path:
    """Write ``predictions.jsonl`` in benchmark order from every predictions file in the folder."""
    records: dict[str, dict[str, Any]] = {}
    files = sorted(output_dir.glob("predictions*.jsonl"))
    for path in files:
        records.update(read_done(path))
    missing = [i for i in order if i not in records]
    if missing:
        raise RuntimeError(f"{len(missing)} items have no prediction (first: {missing[:3]}); run again to resume.")
    target = output_dir / PREDICTIONS
    temporary = target.with_suffix(".jsonl.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        _append(handle, [records[i] for i in order])
    os.replace(temporary, target)
    for path in files:
        if path != target:
            path.unlink()
    return target


def evaluate_model(model: str, benchmark: str, output_dir: str | Path, *, config: str = "all",
                   subsets: Sequence[str] | None = None, limit: int | None = None, backend: str = "transformers",
                   batch_size: int = 8, max_new_tokens: int = 1024, extraction: str = "strict",
                   probabilities: bool = False, image_size: int | None = DEFAULT_IMAGE_SIZE, reasoning: bool = True,
                   overwrite: bool = False, bootstrap: int = 1000, engine: Any = None) -> dict[str, Any] | None:
    """Evaluate ``model`` on ``benchmark``; returns the metrics (on rank 0; None on other ranks)."""
    from .inference import load_engine
    from .scoring import load_predictions, score, write_report

    output_dir = Path(output_dir)
    rank, world, state = _shard()
    settings = run_settings(model, benchmark, backend=backend, max_new_tokens=max_new_tokens,
                            image_size=image_size, reasoning=reasoning, probabilities=probabilities)
    if rank == 0:
        check_or_start(output_dir, settings, overwrite)
    if state is not None:
        state.wait_for_everyone()
    dataset = load_benchmark(benchmark, config, subsets, limit)
    golds = gold_labels(dataset)
    target = output_dir / (PREDICTIONS if world == 1 else f"predictions.rank{rank}.jsonl")
    done: set[str] = set()
    for path in output_dir.glob("predictions*.jsonl"):  # earlier runs may have used another number of ranks
        done |= read_done(path, repair=path == target).keys()
    if state is not None:
        state.wait_for_everyone()  # nobody appends before every rank has read
    ids = dataset["id"]
    todo = [i for i in range(rank, len(dataset), world) if ids[i] not in done]
    if todo:
        engine = engine or load_engine(backend, model)
        generate_missing(engine, dataset, golds, target, todo, batch_size=batch_size, max_new_tokens=max_new_tokens,
                         image_size=image_size, reasoning=reasoning, probabilities=probabilities)
    if state is not None:
        state.wait_for_everyone()
    if rank != 0:
        return None
    predictions = merge_predictions(output_dir, ids)
    result = score(**load_predictions(predictions), extraction=extraction, bootstrap=bootstrap)
    write_report(result, output_dir, config={**settings, "extraction": extraction, "items": len(dataset),
                                             "config": config, "subsets": list(subsets or [])})
    return result


def run(args) -> int:
    result = evaluate_model(args.model, args.benchmark, args.output_dir, config=args.config, subsets=args.subsets,
                            limit=args.limit, backend=args.backend, batch_size=args.batch_size,
                            max_new_tokens=args.max_new_tokens, extraction=args.extraction,
                            probabilities=args.probabilities, image_size=args.image_size or None,
                            reasoning=not args.no_reasoning, overwrite=args.overwrite, bootstrap=args.bootstrap)
    if result is not None:
        from .score_cli import format_table

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
