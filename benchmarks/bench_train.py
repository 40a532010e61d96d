"""GRPO step time: ``UniFERGRPOTrainer`` against stock TRL ``GRPOTrainer``, same rewards, model, data and seed.

Runs are interleaved (UniFER, stock, UniFER, stock, …) so drifts in machine load hit both alike. Each run loads
the tiny random model afresh and trains ``--steps`` GRPO steps; TRL's per-step ``step_time`` after the first
(warm-up) step is kept. Prints the median over runs of each run's median step time and their ratio (exits
non-zero above ``--max-ratio``, default 1.05), the fastest step of each trainer (the least disturbed figure on a
shared machine), and the time of the only per-step work the subclass adds.

    HF_HUB_OFFLINE=1 python benchmarks/bench_train.py            # about 2 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

BATCH = 4  # completions per generation batch (2 prompts x 2 generations)


def rlvr_dataset(n_per_class: int):
    """SynFER faces drawn at 224×224 RGB, so the stock trainer sees the same pixels UniFER prepares."""
    from datasets import Dataset

    from unifer.data.synfer import iter_faces
    from unifer.labels import CANONICAL_EMOTIONS
    from unifer.prompts import chat_messages, fer_question

    faces = list(iter_faces(n_per_class, seed=0, size=224))
    question = fer_question(CANONICAL_EMOTIONS)
    return Dataset.from_dict(
        {
            "prompt": [chat_messages(None, question) for _ in faces],
            "image": [image for _, _, image in faces],
            "solution": [emotion for _, emotion, _ in faces],
            "candidate_labels": [list(CANONICAL_EMOTIONS)] * len(faces),
        }
    )


def run(kind: str, model_path: Path, dataset, steps: int, out: Path) -> list[float]:
    """Seconds per GRPO step of one fresh training run, warm-up step excluded."""
    from transformers import AutoModelForImageTextToText, PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    from unifer.trainers.configs import UniFERGRPOConfig
    from unifer.trainers.grpo import UniFERGRPOTrainer
    from unifer.trainers.rewards import accuracy_reward, format_reward

    config = {
        "output_dir": str(out),
        "max_steps": steps,
        "per_device_train_batch_size": BATCH,
        "num_generations": 2,
        "max_completion_length": 16,
        "temperature": 1.0,
        "beta": 0.04,
        "learning_rate": 1e-5,
        "bf16": False,
        "gradient_checkpointing": False,
        "report_to": "none",
        "save_strategy": "no",
        "logging_steps": 1,
        "seed": 0,
        "disable_tqdm": True,
    }
    config_class, trainer_class = {
        "unifer": (UniFERGRPOConfig, UniFERGRPOTrainer),
        "stock": (GRPOConfig, GRPOTrainer),
    }[kind]
    trainer = trainer_class(
        AutoModelForImageTextToText.from_pretrained(model_path),
        reward_funcs=[accuracy_reward, format_reward],
        args=config_class(**config),
        train_dataset=dataset,
    )
    trainer.remove_callback(PrinterCallback)  # per-step log dicts would drown the report
    trainer.train()
    return [entry["step_time"] for entry in trainer.state.log_history if "step_time" in entry][1:]


def added_work_ms(dataset, batch: int, repeats: int = 50) -> float:
    """Milliseconds per generation batch of the only per-step work UniFER adds: preparing the faces. Timed
    alone, it is immune to the machine-load noise of whole-step timings."""
    import time

    from unifer.trainers.common import with_prepared_images

    rows = [dataset[i] for i in range(batch)]
    started = time.perf_counter()
    for _ in range(repeats):
        [with_prepared_images(row, 224) for row in rows]
    return (time.perf_counter() - started) / repeats * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5, help="interleaved UniFER/stock run pairs (default 5)")
    parser.add_argument("--steps", type=int, default=6, help="GRPO steps per run, the first is warm-up (default 6)")
    parser.add_argument("--max-ratio", type=float, default=1.05)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: steadier timings when other processes share the cores)",
    )
    args = parser.parse_args(argv)

    import torch
    import transformers

    from unifer.tiny import build_tiny_unifer

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = build_tiny_unifer(Path(tmp) / "tiny", seed=0)
        dataset = rlvr_dataset(n_per_class=2)
        runs: dict[str, list[list[float]]] = {"unifer": [], "stock": []}
        for pair in range(args.pairs):
            for kind in runs:
                runs[kind].append(run(kind, model_path, dataset, args.steps, Path(tmp) / f"{kind}{pair}"))
                print(
                    f"pair {pair + 1}/{args.pairs} {kind:<6} median {statistics.median(runs[kind][-1]) * 1000:8.1f}"
                    f" ms/step, fastest {min(runs[kind][-1]) * 1000:8.1f}",
                    flush=True,
                )
    medians = {kind: statistics.median(statistics.median(steps) for steps in runs[kind]) for kind in runs}
    # On a shared machine other processes only ever add time: the fastest step is the least disturbed estimate.
    fastest = {kind: min(min(steps) for steps in runs[kind]) for kind in runs}
    ratio = medians["unifer"] / medians["stock"]
    print(
        f"median step time: UniFERGRPOTrainer {medians['unifer'] * 1000:.1f} ms, GRPOTrainer "
        f"{medians['stock'] * 1000:.1f} ms, ratio {ratio:.3f} (target <= {args.max_ratio})"
    )
    print(
        f"fastest step:     UniFERGRPOTrainer {fastest['unifer'] * 1000:.1f} ms, GRPOTrainer "
        f"{fastest['stock'] * 1000:.1f} ms, ratio {fastest['unifer'] / fastest['stock']:.3f}"
    )
    print(f"face preparation alone: {added_work_ms(dataset, BATCH):.2f} ms per generation batch of {BATCH}")
    return 0 if ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
