"""``unifer eval``: generate answers for a FERBench-format benchmark, resumably, then score them.

Predictions are appended to ``predictions.jsonl`` and flushed to disk batch by batch. A run killed at any moment
(SIGKILL included) and started again with the same arguments generates only what is missing; a half-written last
line is cut off. The run's settings are kept in ``run.json``: a different model, prompt or generation config
refuses to mix into old predictions unless ``overwrite=True`` starts over. Under ``accelerate launch`` every
rank takes a strided share of the items and writes its own file; rank 0 merges them and scores.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unifer.images import DEFAULT_IMAGE_SIZE
from unifer.inference import FERPrediction, generate_predictions, make_requests
from unifer.jsonl import Ledger, check_run_settings, read_records, write_records
from unifer.prompts import DEFAULT_SYSTEM_PROMPT, DIRECT_QUESTION_TEMPLATE, QUESTION_TEMPLATE

PREDICTIONS = "predictions.jsonl"
RUN_FILE = "run.json"


def load_benchmark(
    benchmark: str, config: str = "all", subsets: Sequence[str] | None = None, limit: int | None = None
):
    """A FERBench-format split (local folder or Hub id) as a ``datasets.Dataset`` with undecoded images,
    filtered to ``subsets`` and to the first ``limit`` items of each subset."""
    import datasets

    dataset = datasets.load_dataset(benchmark, config, split="test")
    dataset = dataset.cast_column("image", datasets.Image(decode=False))
    if subsets:
        unknown = set(subsets) - set(dataset.unique("subset"))
        if unknown:
            raise ValueError(
                f"Subsets {sorted(unknown)} are not in {benchmark} ({config}); "
                f"it has {sorted(dataset.unique('subset'))}."
            )
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


def run_settings(
    model: str,
    benchmark: str,
    *,
    backend: str,
    max_new_tokens: int,
    image_size: int | None,
    reasoning: bool,
    probabilities: bool,
) -> dict[str, Any]:
    """What determines the predictions; a resumed run must match it exactly."""
    prompt = (QUESTION_TEMPLATE if reasoning else DIRECT_QUESTION_TEMPLATE) + DEFAULT_SYSTEM_PROMPT
    return {
        "model": str(model),
        "model_fingerprint": model_fingerprint(str(model)),
        "benchmark": str(benchmark),
        "backend": backend,
        "max_new_tokens": max_new_tokens,
        "image_size": image_size,
        "reasoning": reasoning,
        "probabilities": probabilities,
        "do_sample": False,
        "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
    }


def start_run(output_dir: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Refuse to mix predictions made under other settings; ``overwrite`` clears the old run instead."""
    if overwrite:
        for old in [*output_dir.glob("predictions*.jsonl"), output_dir / RUN_FILE]:
            old.unlink(missing_ok=True)
    check_run_settings(
        output_dir,
        settings,
        file_name=RUN_FILE,
        what="predictions",
        option="--output-dir (or --overwrite to start over)",
    )


def _shard() -> tuple[int, int, Any]:
    """(rank, world size, accelerate state or None): one process unless launched by accelerate/torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, None
    from accelerate import PartialState

    state = PartialState()
    return state.process_index, state.num_processes, state


def generate_missing(
    engine,
    dataset,
    golds: list[str],
    path: Path,
    todo: list[int],
    *,
    batch_size: int,
    max_new_tokens: int,
    image_size: int | None,
    reasoning: bool,
    probabilities: bool,
) -> int:
    """Generate the dataset rows ``todo``, appending each batch to ``path``; returns the count."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc="generating", unit="item", dynamic_ncols=True)
    chunk = max(batch_size * 4, 32)  # prepare images a chunk at a time: bounded memory, batches still sorted
    with Ledger(path) as ledger:
        for start in range(0, len(todo), chunk):
            rows = [dataset[i] for i in todo[start : start + chunk]]
            requests = [
                make_requests(
                    [row["image"]],
                    row["candidate_labels"],
                    reasoning=reasoning,
                    image_size=image_size,
                    names=[row["id"]],
                )[0]
                for row in rows
            ]
            for batch in generate_predictions(
                engine, requests, batch_size=batch_size, max_new_tokens=max_new_tokens, probabilities=probabilities
            ):
                ledger.append(
                    prediction_record(rows[j], golds[todo[start + j]], prediction, probabilities)
                    for j, prediction in batch
                )
                bar.update(len(batch))
    bar.close()
    return len(todo)


def prediction_record(row: dict[str, Any], gold: str, prediction: FERPrediction, probabilities: bool) -> dict:
    """One line of ``predictions.jsonl``: the item, its gold label, the response and its parse."""
    return {
        "id": row["id"],
        "subset": row["subset"],
        "label": gold,
        "candidate_labels": row["candidate_labels"],
        "response": prediction.raw_text,
        "parsed_label": prediction.label,
        "well_formed": prediction.well_formed,
        "probabilities": prediction.probabilities if probabilities else None,
        "num_tokens": prediction.num_tokens,
        "seconds": round(prediction.seconds or 0.0, 4),
    }


def merge_predictions(output_dir: Path, order: Sequence[str]) -> Path:
    """Write ``predictions.jsonl`` in benchmark order from every predictions file in the folder."""
    records: dict[str, dict[str, Any]] = {}
    files = sorted(output_dir.glob("predictions*.jsonl"))
    for path in files:
        records.update((record["id"], record) for record in read_records(path))
    missing = [i for i in order if i not in records]
    if missing:
        raise RuntimeError(f"{len(missing)} items have no prediction (first: {missing[:3]}); run again to resume.")
    target = write_records(output_dir / PREDICTIONS, [records[i] for i in order])
    for path in files:
        if path != target:
            path.unlink()
    return target


def evaluate_model(
    model: str,
    benchmark: str,
    output_dir: str | Path,
    *,
    config: str = "all",
    subsets: Sequence[str] | None = None,
    limit: int | None = None,
    backend: str = "transformers",
    batch_size: int = 8,
    max_new_tokens: int = 1024,
    extraction: str = "strict",
    probabilities: bool = False,
    image_size: int | None = DEFAULT_IMAGE_SIZE,
    reasoning: bool = True,
    overwrite: bool = False,
    bootstrap: int = 1000,
    engine: Any = None,
) -> dict[str, Any] | None:
    """Evaluate ``model`` on ``benchmark``; returns the metrics (on rank 0; None on other ranks)."""
    from unifer.inference import load_engine
    from unifer.metrics.reports import write_report
    from unifer.metrics.scoring import load_predictions, score

    output_dir = Path(output_dir)
    rank, world, state = _shard()
    settings = run_settings(
        model,
        benchmark,
        backend=backend,
        max_new_tokens=max_new_tokens,
        image_size=image_size,
        reasoning=reasoning,
        probabilities=probabilities,
    )
    if rank == 0:
        start_run(output_dir, settings, overwrite)
    if state is not None:
        state.wait_for_everyone()
    dataset = load_benchmark(benchmark, config, subsets, limit)
    golds = gold_labels(dataset)
    target = output_dir / (PREDICTIONS if world == 1 else f"predictions.rank{rank}.jsonl")
    done: set[str] = set()
    for path in output_dir.glob("predictions*.jsonl"):  # earlier runs may have used another number of ranks
        done |= {record["id"] for record in read_records(path, repair=path == target)}
    if state is not None:
        state.wait_for_everyone()  # nobody appends before every rank has read
    ids = dataset["id"]
    todo = [i for i in range(rank, len(dataset), world) if ids[i] not in done]
    if todo:
        engine = engine or load_engine(backend, model)
        generate_missing(
            engine,
            dataset,
            golds,
            target,
            todo,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            image_size=image_size,
            reasoning=reasoning,
            probabilities=probabilities,
        )
    if state is not None:
        state.wait_for_everyone()
    if rank != 0:
        return None
    predictions = merge_predictions(output_dir, ids)
    result = score(**load_predictions(predictions), extraction=extraction, bootstrap=bootstrap)
    write_report(
        result,
        output_dir,
        config={
            **settings,
            "extraction": extraction,
            "items": len(dataset),
            "config": config,
            "subsets": list(subsets or []),
        },
    )
    return result
