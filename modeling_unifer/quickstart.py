"""``unifer quickstart``: the whole UniFER pipeline, offline, on SynFER: data → stage 0 → SFT → GRPO → eval.

No pretrained weights, licensed images or GPU are needed: it draws SYNTHETIC cartoon faces (SynFER), builds a
small Qwen2.5-VL-architecture UniFER model from scratch, pre-trains its vision tower on the train faces' labels
(stage 0, :mod:`unifer.trainers.vision_pretraining`: a from-scratch tower needs it), trains it with the same
trainers and CLI entry points the 7B recipes use (``unifer train sft|grpo``, tower frozen), evaluates it with
``unifer eval`` after each stage, and leaves a model folder the Space can serve. Everything it reports is measured
on synthetic faces: it proves the pipeline learns, and says nothing about real facial expression recognition.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unifer.data.synfer import SYNFER_EMOTIONS as EMOTIONS

BANNER = (
    "NOTE: the quickstart trains a SMALL model FROM SCRATCH on SYNTHETIC cartoon faces (SynFER) to prove the "
    "pipeline end to end. Its figures are on synthetic data and say nothing about real FER."
)


@dataclass(frozen=True)
class Plan:
    """Everything that decides the quickstart's numbers (printed and saved with the report)."""

    emotions: tuple[str, ...] = EMOTIONS[:5]
    train_per_class: int = 1200
    test_per_class: int = 50
    image_size: int = 56
    # Small patches, full attention: a from-scratch tower learns SynFER far faster at patch 4 than 14; a third
    # block gives the per-token loss room to spread the expression across tokens (docs/quickstart.md).
    architecture: dict[str, Any] = field(
        default_factory=lambda: dict(
            hidden_size=128,
            intermediate_size=256,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            patch_size=4,
            vision_depth=3,
            vision_hidden_size=64,
            vision_num_heads=4,
            vision_intermediate_size=128,
            fullatt_block_indexes=[0, 1, 2],
        )
    )
    # Step counts leave room for this shared machine's speed drift under the 10-minute budget (docs/quickstart.md).
    vision: dict[str, Any] = field(
        default_factory=lambda: dict(
            max_steps=550,
            per_device_train_batch_size=32,
            learning_rate=1e-3,
            lr_scheduler_type="cosine",
            warmup_steps=30,
            weight_decay=0.0,
            adam_beta2=0.95,
            token_loss_weight=4.0,
            token_loss_start=250,
        )
    )
    sft: dict[str, Any] = field(
        default_factory=lambda: dict(
            max_steps=280,
            per_device_train_batch_size=32,
            learning_rate=2e-3,
            lr_scheduler_type="cosine",
            warmup_steps=20,
            weight_decay=0.0,
            adam_beta2=0.95,
            freeze_vision_tower=True,
        )
    )
    # Small, gentle steps: at lr 1e-4 ten GRPO steps of 2 prompts cost 0.13 accuracy (docs/quickstart.md).
    grpo: dict[str, Any] = field(
        default_factory=lambda: dict(
            max_steps=10,
            per_device_train_batch_size=16,
            num_generations=4,
            max_completion_length=96,
            learning_rate=1e-5,
            beta=0.04,
            temperature=1.0,
            freeze_vision_tower=True,
        )
    )
    max_new_tokens: int = 96


#: The shortened run CI uses: every stage, fewer faces and steps. Stage 0 still learns well above chance and SFT
#: still learns the answer format; tests/test_cli.py holds it to that (bars and their measurements there).
FAST = Plan(
    train_per_class=200,
    test_per_class=20,
    vision=dict(
        max_steps=150,
        per_device_train_batch_size=32,
        learning_rate=1e-3,
        lr_scheduler_type="cosine",
        warmup_steps=15,
        weight_decay=0.0,
        adam_beta2=0.95,
        token_loss_weight=1.0,
        token_loss_start=75,
    ),
    sft=dict(
        max_steps=160,
        per_device_train_batch_size=16,
        learning_rate=3e-3,
        lr_scheduler_type="cosine",
        warmup_steps=10,
        weight_decay=0.0,
        adam_beta2=0.95,
        freeze_vision_tower=True,
    ),
    grpo=dict(
        max_steps=2,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=32,
        learning_rate=1e-5,
        beta=0.04,
        temperature=1.0,
        freeze_vision_tower=True,
    ),
    max_new_tokens=96,
)


def build_model(path: Path, plan: Plan, seed: int) -> Path:
    """A from-scratch UniFER model: the tiny test model's tokenizer and processor, a larger configuration."""
    import torch

    from unifer.configuration_unifer import UniFERConfig
    from unifer.data.synfer_dataset import synfer_emotions  # the order the data's questions list them in
    from unifer.modeling_unifer import UniFERForConditionalGeneration
    from unifer.tiny import MERGE_SIZE, PATCH_SIZE, build_processor, build_tokenizer, tiny_config

    tokenizer = build_tokenizer()
    patch = plan.architecture.get("patch_size", PATCH_SIZE)
    processor = build_processor(
        tokenizer, min_pixels=(patch * MERGE_SIZE) ** 2, max_pixels=plan.image_size**2, patch_size=patch
    )
    config = UniFERConfig.from_dict(
        {
            **tiny_config(tokenizer, **plan.architecture).to_dict(),
            "candidate_labels": list(synfer_emotions(plan.emotions)),
            "image_size": plan.image_size,
        }
    )
    torch.manual_seed(seed)
    model = UniFERForConditionalGeneration(config)
    model.generation_config.update(
        do_sample=False,
        eos_token_id=[tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def pretrain_vision(model: Path, data: Path, out: Path, plan: Plan, seed: int) -> tuple[Path, float]:
    """Stage 0: the tower alone, max-pooled linear classifier on the train split's labels; returns the saved
    model and the classifier's held-out accuracy."""
    from datasets import load_dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from unifer.trainers.configs import VisionPretrainingConfig
    from unifer.trainers.vision_pretraining import pretrain_vision_tower, probe_accuracy

    network, processor = AutoModelForImageTextToText.from_pretrained(model), AutoProcessor.from_pretrained(model)
    test = load_dataset(str(data), "benchmark", split="test")
    # The benchmark's ClassLabel fixes the label order (canonical, not necessarily plan.emotions' order).
    index = {emotion: i for i, emotion in enumerate(test.features["label"].names)}
    train = load_dataset(str(data), "rlvr", split="train")
    train = train.add_column("label", [index[solution] for solution in train["solution"]])
    args = VisionPretrainingConfig(
        output_dir=str(out),
        seed=seed,
        image_size=plan.image_size,
        report_to="none",
        save_strategy="no",
        logging_steps=50,
        dataloader_num_workers=0,
        **plan.vision,
    )
    classifier = pretrain_vision_tower(network, processor.image_processor, train, len(plan.emotions), args)
    accuracy = probe_accuracy(classifier, processor.image_processor, test, plan.image_size)
    network.save_pretrained(out)
    processor.save_pretrained(out)
    return out, accuracy


def train_stage(stage: str, model: Path, data: Path, out: Path, plan: Plan, seed: int) -> Path:
    """One stage through the same entry point as ``unifer train``: recipe + overrides."""
    from unifer import trainers
    from unifer.trainers.train import cli_main as train_main

    recipe = Path(trainers.__file__).parent / "recipes" / f"{stage}_quickstart.yaml"
    settings = plan.sft if stage == "sft" else plan.grpo
    overrides = [f"--{key}={value}" for key, value in settings.items()]
    train_main(
        [
            stage,
            "--config",
            str(recipe),
            f"--model_name_or_path={model}",
            f"--dataset_name={data}",
            f"--dataset_config={'cot' if stage == 'sft' else 'rlvr'}",
            f"--output_dir={out}",
            f"--image_size={plan.image_size}",
            f"--seed={seed}",
            *overrides,
        ]
    )
    return out


def evaluate_stage(model: Path, data: Path, out: Path, plan: Plan) -> dict[str, Any]:
    from unifer.evaluation import evaluate_model

    return evaluate_model(
        str(model),
        str(data),
        out,
        config="benchmark",
        batch_size=32,
        image_size=plan.image_size,
        max_new_tokens=plan.max_new_tokens,
        bootstrap=1000,
        overwrite=True,
    )


def table(rows: list[dict[str, Any]]) -> str:
    header = f"{'stage':<8} {'accuracy':>9} {'UAR':>7} {'well-formed':>12} {'unparsed':>9} {'time (s)':>9}"
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = [
            f"{row[key]:>{width}.3f}" if row.get(key) is not None else f"{'-':>{width}}"
            for key, width in (("accuracy", 9), ("uar", 7), ("well_formed_rate", 12), ("unparsed_rate", 9))
        ]
        lines.append(f"{row['stage']:<8} {' '.join(cells)} {row['seconds']:>9.1f}")
    return "\n".join(lines)


def write_report(out: Path, rows: list[dict[str, Any]], plan: Plan, seed: int, total: float) -> None:
    plan_json = json.dumps(asdict(plan), indent=2)
    token_term = (
        f" and, from step {plan.vision.get('token_loss_start', 0)}, the same classifier on every token "
        f"(weight {plan.vision['token_loss_weight']}), which spreads the expression across tokens for the "
        "language model to read"
        if plan.vision.get("token_loss_weight")
        else ""
    )
    text = f"""# UniFER quickstart report (SYNTHETIC data)

{BANNER}

Seed {seed}; {len(plan.emotions)} emotions ({", ".join(plan.emotions)}); chance accuracy
{1 / len(plan.emotions):.3f}. Train faces: {plan.train_per_class} per emotion (SynFER stream {seed});
held-out test faces: {plan.test_per_class} per emotion (stream {seed + 1}). Total wall time {total:.0f} s.

```
{table(rows)}
```

Stages: **vision** (stage 0) pre-trains the from-scratch vision tower alone, on the train faces' labels, with a
linear classifier on the maximum over its image tokens{token_term}. A randomly initialised tower read through the
language model does not learn SynFER in this budget (docs/quickstart.md). Its accuracy is that classifier's on the
held-out faces, not a generated answer (hence no well-formed or unparsed rate); the classifier is then
discarded. **sft** (CoT cold start) and **grpo** (FER rewards) train the language model and the vision merger with
the tower frozen (`freeze_vision_tower`), and are scored by `unifer eval` on generated answers.

Per-stage evaluation folders (`eval-*/`) hold predictions, metrics.json, report.md and confusion matrices.
The final model is `final-model/` (loadable with `AutoModelForImageTextToText`; the Space's offline default).

## Plan

```json
{plan_json}
```
"""
    (out / "report.md").write_text(text)
    (out / "quickstart.json").write_text(
        json.dumps({"seed": seed, "rows": rows, "plan": asdict(plan), "total_seconds": total}, indent=2)
    )


def run_quickstart(out: Path, plan: Plan, seed: int = 0) -> list[dict[str, Any]]:
    from unifer.data.synfer_dataset import build_synfer
    from unifer.model_card import build_card

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    data = out / "synfer"
    shutil.rmtree(data, ignore_errors=True)
    build_synfer(
        data,
        n_per_class=plan.train_per_class,
        test_per_class=plan.test_per_class,
        seed=seed,
        size=plan.image_size,
        emotions=plan.emotions,
    )
    print(
        f"[{time.perf_counter() - started:5.0f}s] SynFER drawn: {plan.train_per_class}/{plan.test_per_class} "
        f"faces per emotion (train/test)",
        flush=True,
    )
    stage_start = time.perf_counter()
    model, probe = pretrain_vision(build_model(out / "model-init", plan, seed), data, out / "vision", plan, seed)
    rows = [{"stage": "vision", "seconds": time.perf_counter() - stage_start, "accuracy": probe}]
    print(f"[{time.perf_counter() - started:5.0f}s] vision (stage 0): probe accuracy {probe:.3f}", flush=True)
    for stage in ("sft", "grpo"):
        stage_start = time.perf_counter()
        model = train_stage(stage, model, data, out / stage, plan, seed)
        result = evaluate_stage(model, data, out / f"eval-{stage}", plan)
        rows.append(
            {
                "stage": stage,
                "seconds": time.perf_counter() - stage_start,
                **{key: result[key] for key in ("accuracy", "uar", "well_formed_rate", "unparsed_rate")},
            }
        )
        print(f"[{time.perf_counter() - started:5.0f}s] {stage}: accuracy {result['accuracy']:.3f}", flush=True)
    final = out / "final-model"
    shutil.rmtree(final, ignore_errors=True)
    shutil.copytree(model, final, ignore=shutil.ignore_patterns("checkpoint-*"))
    metrics = json.loads((out / "eval-grpo" / "metrics.json").read_text())
    build_card(final, metrics, model_name="unifer-quickstart (synthetic)", synthetic=True).save(final / "README.md")
    total = time.perf_counter() - started
    write_report(out, rows, plan, seed, total)
    return rows
