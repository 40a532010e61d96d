"""The evaluation harness behind ``unifer eval``: generate answers for a FERBench-format benchmark, resumably,
then score them.

Predictions are appended to ``predictions.jsonl`` and fsynced batch by batch. A run killed at any moment (SIGKILL
included) and started again with the same arguments generates only what is missing; a half-written last line is
cut off. Predictions are never deleted: a narrower rerun (fewer subsets, a smaller ``limit``) keeps the folder's
figures those of every prediction in it and writes its own selection's beside them (``selection/``). The run's settings are kept in ``run.json``, including fingerprints of the
model's weights and of the benchmark's data files: another model, prompt, generation config or changed data refuses
to mix into old predictions unless ``overwrite=True`` starts over (a ``run.json`` with no predictions beside it, left
by a run that failed to start, blocks nothing). Under ``accelerate launch`` every rank takes a strided share of the
items and writes its own file; rank 0 merges them and scores.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unifer.configs import EvalConfig
from unifer.jsonl import Ledger, check_run_settings, read_records, write_records
from unifer.prompts import DEFAULT_SYSTEM_PROMPT, DIRECT_QUESTION_TEMPLATE, QUESTION_TEMPLATE

if TYPE_CHECKING:  # torch loads with the engine, not with this module (model_card reads RUN_FILE from here)
    from unifer.inference import FERPrediction

PREDICTIONS = "predictions.jsonl"
#: Where a narrower rerun (fewer subsets, a smaller ``limit``) writes its own figures; the folder's stay whole.
SELECTION_DIR = "selection"
#: The run's settings: its :class:`~unifer.configs.EvalConfig` and the facts resolved from it (:func:`run_settings`).
RUN_FILE = "run.json"
#: ``EvalConfig`` fields a resumed run may change: where and how much it runs and how it is scored, not what the
#: model is asked (the resolved ``benchmark_config`` is compared instead of the requested ``config``).
FREE_ON_RESUME = (
    "output_dir",
    "overwrite",
    "config",
    "subsets",
    "limit",
    "batch_size",
    "bootstrap",
    "extraction",
    "tensor_parallel_size",
    "gpu_memory_utilization",
    "max_model_len",
    "enforce_eager",
    "api_key_env",
    "concurrency",
    "request_timeout",
    "max_retries",
    "num_threads",
    "processed_image_size",  # follows from the model and image_size, which are compared
)


def _load_test_split(benchmark: str, config: str | None):
    """The benchmark's test split, or a one-line error saying what the folder is instead (an eval output folder,
    a training set) and what ``--benchmark`` expects."""
    import datasets

    expected = "give --benchmark a FERBench-format benchmark (unifer data build ferbench|synfer, unifer data ingest)"
    folder = Path(benchmark).expanduser()
    if (folder / PREDICTIONS).is_file() or (folder / RUN_FILE).is_file():
        raise ValueError(
            f"{benchmark} is a unifer eval output folder (it holds {PREDICTIONS}), not a benchmark: {expected}."
        )
    try:
        return datasets.load_dataset(benchmark, config, split="test")
    except ValueError as err:
        if "Unknown split" not in str(err):
            raise
        splits = datasets.get_dataset_split_names(benchmark, config)
        raise ValueError(
            f"{benchmark} ({config or 'its default config'}) has no test split, only {', '.join(splits)}: a training "
            f"set (CoT or RLVR data) rather than a benchmark; {expected}."
        ) from None


def load_benchmark(
    benchmark: str,
    config: str | None = None,
    subsets: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
):
    """A FERBench-format split (local folder or Hub id) as a ``datasets.Dataset`` with undecoded images, filtered
    to ``subsets`` and to ``limit`` items per subset. ``config`` None is the benchmark's default config (the one its
    card marks). ``limit`` draws a seeded sample spread evenly over each subset's classes, kept in benchmark order:
    a benchmark stored class by class would otherwise give the first class only."""
    import datasets

    dataset = _load_test_split(benchmark, config)
    missing = {"id", "subset", "image", "label", "candidate_labels"} - set(dataset.column_names)
    if missing:
        raise ValueError(
            f"{benchmark} ({dataset.config_name}) is not a FERBench-format benchmark: it lacks the columns "
            f"{sorted(missing)} (found {dataset.column_names}). Build one with `unifer data build ferbench|synfer` "
            "or `unifer data ingest`."
        )
    dataset = dataset.cast_column("image", datasets.Image(decode=False))
    if subsets:
        unknown = set(subsets) - set(dataset.unique("subset"))
        if unknown:
            raise ValueError(
                f"Subsets {sorted(unknown)} are not in {benchmark} ({dataset.config_name}); "
                f"it has {sorted(dataset.unique('subset'))}."
            )
        dataset = dataset.filter(lambda subset: subset in subsets, input_columns="subset")
    if limit is not None:
        dataset = dataset.select(stratified_sample(dataset["subset"], gold_labels(dataset), limit, seed))
    return dataset


def stratified_sample(subsets: Sequence[str], labels: Sequence[str], limit: int, seed: int = 0) -> list[int]:
    """Row indices, in order: per subset, ``limit`` rows taken round-robin over its classes (each class's rows in a
    seeded random order), so every class is represented as evenly as ``limit`` allows."""
    import random

    by_class: dict[str, dict[str, list[int]]] = {}
    for index, (subset, label) in enumerate(zip(subsets, labels)):
        by_class.setdefault(subset, {}).setdefault(label, []).append(index)
    chosen: list[int] = []
    rng = random.Random(seed)
    for classes in by_class.values():
        queues = [rng.sample(rows, len(rows)) for _, rows in sorted(classes.items())]
        picked: list[int] = []
        while len(picked) < limit and any(queues):
            picked += [queue.pop() for queue in queues if queue][: limit - len(picked)]
        chosen += picked
    return sorted(chosen)


def gold_labels(dataset) -> list[str]:
    """Gold labels as candidate names, whether the column is a ``ClassLabel`` or a string."""
    feature = dataset.features["label"]
    column = dataset["label"]
    return [feature.int2str(v) for v in column] if hasattr(feature, "int2str") else list(column)


def files_fingerprint(paths: Sequence[Path]) -> str:
    """Identifies files cheaply: each one's name, size, first and last MiB (a retrained checkpoint or a rebuilt
    dataset changes them; hashing 15 GB would not be cheap)."""
    digest = hashlib.sha256()
    for item in paths:
        size = item.stat().st_size
        digest.update(f"{item.name}:{size}".encode())
        with item.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            handle.seek(max(0, size - (1 << 20)))
            digest.update(handle.read())
    return digest.hexdigest()


def model_fingerprint(model: str) -> str:
    """A model folder's config and weight files (see :func:`files_fingerprint`); a Hub id is identified by name."""
    path = Path(model)
    if not path.is_dir():
        return f"name:{model}"
    return files_fingerprint(
        [
            item
            for item in sorted(path.iterdir())
            if item.is_file() and item.suffix in (".json", ".safetensors", ".bin")
        ]
    )


def benchmark_fingerprint(benchmark: str, dataset) -> str:
    """A local benchmark folder's data files (see :func:`files_fingerprint`); for a Hub dataset, the cache files
    ``datasets`` prepared from it (their names carry the revision and config hash)."""
    path = Path(benchmark)
    if path.is_dir():
        suffixes = (".parquet", ".arrow", ".json", ".jsonl", ".csv")
        return files_fingerprint([f for f in sorted(path.rglob("*")) if f.is_file() and f.suffix in suffixes])
    return (
        files_fingerprint([Path(cache["filename"]) for cache in dataset.cache_files])
        if dataset.cache_files
        else (f"name:{benchmark}")
    )


def run_settings(config: EvalConfig, dataset, engine: Any = None) -> dict[str, Any]:
    """``run.json``: the config and what it resolves to (fingerprints, the benchmark's config, the prompt's hash).
    A resumed run must match it except in :data:`FREE_ON_RESUME`. ``resolved_dtype``: what ``dtype`` loads here."""
    from unifer.inference import resolve_dtype

    prompt = (QUESTION_TEMPLATE if config.reasoning else DIRECT_QUESTION_TEMPLATE) + DEFAULT_SYSTEM_PROMPT
    from unifer.sources import resolved_source

    return {
        **asdict(config),
        # Resolved, so that a trailing "/" or a relative path resumes the same run.
        "model": resolved_source(config.model) if config.backend != "openai" else config.model,
        "benchmark": resolved_source(config.benchmark),
        "model_fingerprint": model_fingerprint(config.model),
        "benchmark_config": dataset.config_name,
        "benchmark_fingerprint": benchmark_fingerprint(config.benchmark, dataset),
        "resolved_dtype": None if config.backend == "openai" else resolve_dtype(config.dtype),  # a server's own
        "processed_image_size": face_size_after_processor(config, engine),
        "do_sample": False,
        "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
    }


def face_size_after_processor(config: EvalConfig, engine: Any = None) -> list[int] | None:
    """``[height, width]`` of the faces the model sees: its processor resizes ``image_size`` faces within its own
    pixel limits (None for a server's model or faces kept at their own size). A given engine's own processor is
    used: its ``model`` may name no folder (the quickstart's model in training)."""
    if config.backend == "openai" or not config.image_size:
        return None
    from transformers import AutoImageProcessor

    from unifer.inference import processed_image_size

    processor = getattr(engine, "processor", None)
    image_processor = (
        processor.image_processor if processor is not None else AutoImageProcessor.from_pretrained(config.model)
    )
    return processed_image_size(image_processor, config.image_size)


def start_run(output_dir: Path, settings: dict[str, Any], overwrite: bool) -> None:
    """Refuse to mix predictions made under other settings (all but :data:`FREE_ON_RESUME`); ``overwrite`` clears
    the old run instead. A run.json with no predictions beside it (a run that failed before generating anything)
    blocks nothing. ``run.json`` then holds this run's settings."""
    predictions = list(output_dir.glob("predictions*.jsonl"))
    if overwrite or not any(path.stat().st_size for path in predictions):
        for old in [*predictions, output_dir / RUN_FILE]:
            old.unlink(missing_ok=True)
    check_run_settings(
        output_dir,
        {key: value for key, value in settings.items() if key not in FREE_ON_RESUME},
        file_name=RUN_FILE,
        what="predictions",
        option="--output-dir (or --overwrite to start over)",
    )
    (output_dir / RUN_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


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
    config: EvalConfig,
) -> int:
    """Generate the dataset rows ``todo``, appending each batch to ``path``; returns the count."""
    from tqdm.auto import tqdm

    from unifer.inference import generate_predictions, make_requests

    bar = tqdm(total=len(todo), desc="generating", unit="item", dynamic_ncols=True)
    # Images are prepared a chunk at a time (bounded memory; batches still sorted by length within it); an engine
    # that schedules its own batches (vLLM) asks for large chunks.
    chunk = getattr(engine, "preferred_chunk_size", None) or max(config.batch_size * 4, 32)
    with Ledger(path) as ledger:
        for start in range(0, len(todo), chunk):
            rows = [dataset[i] for i in todo[start : start + chunk]]
            requests = [
                make_requests(
                    [row["image"]],
                    row["candidate_labels"],
                    reasoning=config.reasoning,
                    image_size=config.image_size,
                    names=[row["id"]],
                )[0]
                for row in rows
            ]
            for batch in generate_predictions(
                engine,
                requests,
                batch_size=config.batch_size,
                max_new_tokens=config.max_new_tokens,
                probabilities=config.probabilities,
            ):
                ledger.append(
                    prediction_record(rows[j], golds[todo[start + j]], prediction, config) for j, prediction in batch
                )
                bar.update(len(batch))
    bar.close()
    return len(todo)


def prediction_record(row: dict[str, Any], gold: str, prediction: FERPrediction, config: EvalConfig) -> dict:
    """One line of ``predictions.jsonl``: the item, its gold label, the prompt format, the response and its parse."""
    return {
        "id": row["id"],
        "subset": row["subset"],
        "label": gold,
        "candidate_labels": row["candidate_labels"],
        "response": prediction.raw_text,
        "parsed_label": prediction.label,
        "well_formed": prediction.well_formed,
        "reasoning": config.reasoning,
        "probabilities": prediction.probabilities if config.probabilities else None,
        "num_tokens": prediction.num_tokens,
        "prompt_tokens": prediction.prompt_tokens,
        "error": prediction.error,
        "seconds": round(prediction.seconds or 0.0, 4),
    }


def merge_predictions(output_dir: Path, order: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
    """Gather every predictions file of the folder into ``predictions.jsonl`` (the items of ``order`` first, in that
    order, then any others earlier runs made, which are kept); return the records of ``order`` and the file's
    record count."""
    records: dict[str, dict[str, Any]] = {}
    files = sorted(output_dir.glob("predictions*.jsonl"))
    for path in files:
        records.update((record["id"], record) for record in read_records(path))
    missing = [i for i in order if i not in records]
    if missing:
        raise RuntimeError(f"{len(missing)} items have no prediction (first: {missing[:3]}); run again to resume.")
    selected = set(order)
    target = write_records(
        output_dir / PREDICTIONS, [records[i] for i in order] + [r for i, r in records.items() if i not in selected]
    )
    for path in files:
        if path != target:
            path.unlink()
    return [records[i] for i in order], len(records)


def evaluate_model(config: EvalConfig, *, engine: Any = None) -> dict[str, Any] | None:
    """Evaluate ``config.model`` on ``config.benchmark`` into ``config.output_dir``; returns the metrics of the
    selected items (on rank 0; None on other ranks). ``engine``: a loaded engine to use instead of loading
    ``config.model`` with ``config.backend`` (the quickstart evaluates a model in training this way).

    Example:
        >>> evaluate_model(EvalConfig(model="Karl28/UniFER-7B", benchmark="ferbench", output_dir="runs/unifer-7b"))
    """
    from unifer.inference import load_engine
    from unifer.metrics.prediction_files import prediction_columns
    from unifer.metrics.reports import write_report
    from unifer.metrics.scoring import score
    from unifer.sources import check_source

    started = time.perf_counter()
    if engine is None and config.backend != "openai":  # a served model's name is the server's to check
        check_source(config.model, "model", "--model")
    check_source(config.benchmark, "dataset", "--benchmark")
    output_dir = Path(config.output_dir)
    rank, world, state = _shard()
    dataset = load_benchmark(config.benchmark, config.config, config.subsets, config.limit)
    settings = run_settings(config, dataset, engine)
    if rank == 0:
        start_run(output_dir, settings, config.overwrite)
    if state is not None:
        state.wait_for_everyone()
    golds = gold_labels(dataset)
    target = output_dir / (PREDICTIONS if world == 1 else f"predictions.rank{rank}.jsonl")
    done: set[str] = set()
    for path in output_dir.glob("predictions*.jsonl"):  # earlier runs may have used another number of ranks
        # An item that failed (a server's refusal, retries spent) is asked again; its new record supersedes the old.
        done |= {record["id"] for record in read_records(path, repair=path == target) if not record.get("error")}
    if state is not None:
        state.wait_for_everyone()  # nobody appends before every rank has read
    ids = dataset["id"]
    todo = [i for i in range(rank, len(dataset), world) if ids[i] not in done]
    if todo:
        engine = engine or load_engine(config.backend, config.model, **engine_options(config))
        generate_missing(engine, dataset, golds, target, todo, config)
    if state is not None:
        state.wait_for_everyone()
    if rank != 0:
        return None
    records, in_folder = merge_predictions(output_dir, ids)
    settings["usage"] = token_usage(records)
    (output_dir / RUN_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    result = score(**prediction_columns(records), extraction=config.extraction, bootstrap=config.bootstrap)
    facts = {**settings, "items": len(dataset), "predictions_in_folder": in_folder}
    title = f"{config.model} on {config.benchmark}"
    report_dir = output_dir
    if in_folder > len(records):
        # A narrower rerun: the folder's figures stay those of every prediction in it (one set of settings, checked
        # above); this selection's own figures go beside them.
        everything = list(read_records(output_dir / PREDICTIONS))
        whole = score(**prediction_columns(everything), extraction=config.extraction, bootstrap=config.bootstrap)
        write_report(whole, output_dir, config=facts, records=everything, title=f"{title} (every prediction)")
        report_dir = output_dir / SELECTION_DIR
    elapsed = time.perf_counter() - started
    write_report(result, report_dir, config=facts, records=records, title=title, runtime_seconds=elapsed)
    return result


def engine_options(config: EvalConfig) -> dict[str, Any]:
    """The engine's keyword arguments: ``dtype`` (omitted for ``auto``, the engine's own choice) and the vLLM,
    openai or transformers options given."""
    own = {**config.vllm_options(), **config.openai_options(), "num_threads": config.num_threads}
    given = {name: value for name, value in own.items() if value is not None}
    return {**({"dtype": config.dtype} if config.dtype != "auto" else {}), **given}


def token_usage(records: Sequence[dict[str, Any]]) -> dict[str, int | None]:
    """Tokens of the scored items: generated (``num_tokens``) and, where the engine reports them (a server's
    usage), the prompts' (None when no record has them). What a provider bills for the run's items."""
    prompts = [record["prompt_tokens"] for record in records if record.get("prompt_tokens") is not None]
    return {
        "prompt_tokens": sum(prompts) if prompts else None,
        "completion_tokens": sum(record.get("num_tokens") or 0 for record in records),
    }
