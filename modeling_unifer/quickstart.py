"""``unifer quickstart``: the whole UniFER pipeline, offline, on SynFER: data → stage 0 → SFT → GRPO → eval.

No pretrained weights, licensed images or GPU are needed: it draws SYNTHETIC cartoon faces (SynFER), builds a
small Qwen2.5-VL-architecture UniFER model from scratch, pre-trains its vision tower on the train faces' labels
(stage 0, :mod:`unifer.trainers.vision_pretraining`: a from-scratch tower needs it), trains it with the same
trainers and CLI entry points the 7B recipes use (``unifer train sft|grpo``, tower frozen), evaluates it with
``unifer eval`` after each stage (and during GRPO), reports GRPO's lift over SFT on the same faces with a
paired-bootstrap interval, draws the story in ``story.png``, and leaves a model folder the Space can serve.
Everything it reports is measured on synthetic faces: it proves the pipeline learns, and says nothing about real
facial expression recognition.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from unifer.data.synfer import SYNFER_EMOTIONS as EMOTIONS
from unifer.metrics.reports import format_ci, plot_story
from unifer.metrics.scoring import accuracy_interval, paired_lift
from unifer.trainers.train import RECIPES_DIR

logger = logging.getLogger(__name__)

BANNER = (
    "NOTE: the quickstart trains a SMALL model FROM SCRATCH on SYNTHETIC cartoon faces (SynFER) to prove the "
    "pipeline end to end. Its figures are on synthetic data and say nothing about real FER."
)


#: The stages, in order; each trains from its recipe, ``trainers/recipes/<stage>_quickstart.yaml``.
STAGES = ("vision", "sft", "grpo")


@dataclass(frozen=True)
class Plan:
    """What decides the quickstart's numbers besides its stages' recipes (printed and saved with the report).

    The recipes (``trainers/recipes/{vision,sft,grpo}_quickstart.yaml``, see :func:`stage_settings`) hold every
    training setting; ``vision``, ``sft`` and ``grpo`` override recipe keys (``--fast`` shortens the schedules).
    """

    emotions: tuple[str, ...] = EMOTIONS[:5]
    train_per_class: int = 1200
    test_per_class: int = 100
    image_size: int = 56
    # SynFER's look for 56 px faces (unifer.data.synfer.STYLES): bold strokes, a larger mouth curve, reasoning that
    # names the mouth first.
    style: str = "bold"
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
    #: Overrides of each stage's recipe keys (none: the recipe as it is).
    vision: dict[str, Any] = field(default_factory=dict)
    sft: dict[str, Any] = field(default_factory=dict)
    grpo: dict[str, Any] = field(default_factory=dict)
    max_new_tokens: int = 96
    #: Held-out accuracy every this many GRPO steps, for the report's curve (0: only before and after GRPO).
    grpo_eval_every: int = 15
    #: PyTorch threads while the quickstart runs. One: the same numbers whatever the core count (float sums depend on
    #: the thread count; another CPU still rounds slightly differently, docs/quickstart.md), and on a busy 2-core
    #: machine two threads ran up to 10 times slower per step than one, which the tiny model barely uses anyway
    #: (docs/quickstart.md, sixth round).
    torch_threads: int = 1


#: The shortened run CI uses: the same plan with fewer faces and shorter schedules. Stage 0 still learns well above
#: chance and SFT still learns the answer format; tests/test_cli.py holds it to that (bars and their measurements
#: there). GRPO: 2 faces x 4 completions per step.
FAST = replace(
    Plan(),
    train_per_class=200,
    test_per_class=20,
    vision=dict(max_steps=150, warmup_steps=15),
    sft=dict(max_steps=160, per_device_train_batch_size=16, warmup_steps=10),
    grpo=dict(max_steps=4, per_device_train_batch_size=8, num_generations=4, logging_steps=1),
    grpo_eval_every=2,
)


def recipe_file(stage: str) -> Path:
    """The stage's quickstart recipe."""
    return RECIPES_DIR / f"{stage}_quickstart.yaml"


def recipe_args(stage: str, plan: Plan, **settings: Any) -> list[str]:
    """The command line a stage trains from: its recipe, then ``settings`` (paths, seed, image size) and the plan's
    overrides, as ``--key=value``."""
    overrides = {**settings, **getattr(plan, stage)}
    return ["--config", str(recipe_file(stage)), *(f"--{key}={value}" for key, value in overrides.items())]


def stage_settings(stage: str, plan: Plan) -> dict[str, Any]:
    """The stage's recipe keys with the plan's overrides applied (for the report)."""
    import yaml

    return {**yaml.safe_load(recipe_file(stage).read_text(encoding="utf-8")), **getattr(plan, stage)}


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
    """Stage 0 from its recipe: the tower alone, max-pooled linear classifier on the train split's labels; returns
    the saved model and the classifier's held-out accuracy."""
    from datasets import load_dataset
    from transformers import AutoProcessor
    from trl import TrlParser

    from unifer.modeling_unifer import UniFERForConditionalGeneration
    from unifer.trainers.configs import VisionPretrainingConfig
    from unifer.trainers.vision_pretraining import pretrain_vision_tower, probe_accuracy

    # The UniFER class (not the Auto class's plain Qwen2.5-VL) so the saved folder carries the code its auto_map names.
    network = UniFERForConditionalGeneration.from_pretrained(model)
    processor = AutoProcessor.from_pretrained(model)
    test = load_dataset(str(data), "benchmark", split="test")
    # The benchmark's ClassLabel fixes the label order (canonical, not necessarily plan.emotions' order).
    index = {emotion: i for i, emotion in enumerate(test.features["label"].names)}
    train = load_dataset(str(data), "rlvr", split="train")
    train = train.add_column("label", [index[solution] for solution in train["solution"]])
    (args,) = TrlParser([VisionPretrainingConfig]).parse_args_and_config(
        recipe_args("vision", plan, output_dir=out, seed=seed, image_size=plan.image_size)
    )
    classifier = pretrain_vision_tower(network, processor.image_processor, train, len(plan.emotions), args)
    accuracy = probe_accuracy(classifier, processor.image_processor, test, plan.image_size)
    network.save_pretrained(out)
    processor.save_pretrained(out)
    return out, accuracy


def held_out_curve_callback(data: Path, out: Path, plan: Plan):
    """A ``TrainerCallback`` that scores the model in training on the held-out faces every ``plan.grpo_eval_every``
    steps (``unifer eval``'s :func:`~unifer.evaluation.evaluate_model`, greedy, into ``out/step-NNNN/``) and, at
    the end, writes the trainer's ``trainer_state.json`` (its log history: reward per logged step) to its output
    folder, which a run without checkpoints would not."""
    from transformers import TrainerCallback

    class HeldOutCurve(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
            every = plan.grpo_eval_every
            if every and state.global_step % every == 0 and state.global_step < state.max_steps:
                step = state.global_step
                folder = out / f"step-{step:04d}"
                accuracy = evaluate_in_training(model, processing_class, f"GRPO step {step}", data, folder, plan)
                logger.info("GRPO step %d: held-out accuracy %.3f", step, accuracy)

        def on_train_end(self, args, state, control, **kwargs):
            state.save_to_json(str(Path(args.output_dir) / "trainer_state.json"))

    return HeldOutCurve()


def evaluate_in_training(model, processor, label: str, data: Path, out: Path, plan: Plan) -> float:
    """Held-out accuracy of a model in training (``label`` names it in the evaluation's records), through
    ``unifer eval``'s code; leaves it in training mode."""
    from unifer.inference import TransformersEngine

    try:
        result = evaluate_stage(
            f"{label} (in training)", data, out, plan, bootstrap=0, engine=TransformersEngine(model, processor)
        )
    finally:
        model.train()
    return result["accuracy"]


def train_stage(stage: str, model: Path, data: Path, out: Path, plan: Plan, seed: int, callbacks=None) -> Path:
    """One stage through the same entry point as ``unifer train``: its recipe + overrides."""
    from unifer.trainers.train import cli_main as train_main

    settings = dict(model_name_or_path=model, dataset_name=data, output_dir=out, image_size=plan.image_size, seed=seed)
    train_main([stage, *recipe_args(stage, plan, **settings)], callbacks=callbacks)
    return out


def evaluate_stage(
    model: str | Path, data: Path, out: Path, plan: Plan, *, bootstrap: int = 1000, engine=None
) -> dict[str, Any]:
    """``unifer eval`` of ``model`` (a folder, or the name of ``engine``'s model) on the held-out faces, greedy."""
    from unifer.configs import EvalConfig
    from unifer.evaluation import evaluate_model

    config = EvalConfig(
        model=str(model),
        benchmark=str(data),
        output_dir=str(out),
        config="benchmark",
        batch_size=32,
        image_size=plan.image_size,
        max_new_tokens=plan.max_new_tokens,
        bootstrap=bootstrap,
        overwrite=True,
    )
    return evaluate_model(config, engine=engine)


def grpo_lift(out: Path) -> dict[str, Any]:
    """GRPO's paired lift over SFT on the same held-out faces (``eval-sft/`` and ``eval-grpo/``, paired by id)."""
    from unifer.metrics.prediction_files import paired_correctness

    return paired_lift(*paired_correctness(out / "eval-sft", out / "eval-grpo"))


def grpo_curve(out: Path) -> dict[str, list]:
    """GRPO over its steps: the mean accuracy reward of the sampled completions (``trainer_state.json``'s log
    history) and the greedy held-out accuracy (before GRPO, every ``grpo_eval_every`` steps, after)."""
    history = json.loads((out / "grpo" / "trainer_state.json").read_text())["log_history"]
    rewarded = [entry for entry in history if "rewards/accuracy_reward/mean" in entry]
    held_out = [(0, out / "eval-sft")]
    held_out += [
        (int(folder.name.split("-")[1]), folder) for folder in sorted((out / "eval-grpo-steps").glob("step-*"))
    ]
    final_step = history[-1]["step"] if history else 0
    held_out.append((final_step, out / "eval-grpo"))
    return {
        "reward_steps": [entry["step"] for entry in rewarded],
        "accuracy_reward": [entry["rewards/accuracy_reward/mean"] for entry in rewarded],
        "held_out_steps": [step for step, _ in held_out],
        "held_out_accuracy": [json.loads((folder / "metrics.json").read_text())["accuracy"] for _, folder in held_out],
    }


def draw_story(out: Path, summary: dict[str, Any], plan: Plan) -> Path:
    """``story.png`` (:func:`unifer.metrics.reports.plot_story`), with the confusion matrices after SFT and GRPO."""
    confusions = []
    for stage in ("sft", "grpo"):
        metrics = json.loads((out / f"eval-{stage}" / "metrics.json").read_text())
        confusions.append((f"after {stage.upper()}", metrics.get("overall", metrics)))
    return plot_story(
        out / "story.png",
        summary["rows"],
        summary["grpo_curve"],
        summary["grpo_lift"],
        chance=1 / len(plan.emotions),
        confusions=confusions,
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


def lift_line(lift: dict[str, Any]) -> str:
    return (
        f"GRPO lift over SFT {lift['lift']:+.3f} (95% paired-bootstrap interval {lift['ci95'][0]:+.3f} to "
        f"{lift['ci95'][1]:+.3f}; {lift['fixed']} faces fixed, {lift['broken']} broken, of {lift['n']})"
    )


def write_report(out: Path, summary: dict[str, Any], plan: Plan, seed: int) -> None:
    rows, lift, curve = summary["rows"], summary["grpo_lift"], summary["grpo_curve"]
    settings = {stage: stage_settings(stage, plan) for stage in STAGES}
    plan_json = json.dumps({**asdict(plan), "stage_settings": settings}, indent=2)
    vision = settings["vision"]
    token_term = (
        f" and, from step {vision.get('token_loss_start', 0)}, the same classifier on every token "
        f"(weight {vision['token_loss_weight']}), which spreads the expression across tokens for the "
        "language model to read"
        if vision.get("token_loss_weight")
        else ""
    )
    intervals = "\n".join(f"| {row['stage']} | {row['accuracy']:.3f} | {format_ci(row['ci95'], 3)} |" for row in rows)
    held_out = " · ".join(
        f"{step}: {accuracy:.3f}" for step, accuracy in zip(curve["held_out_steps"], curve["held_out_accuracy"])
    )
    text = f"""# UniFER quickstart report (SYNTHETIC data)

{BANNER}

Seed {seed}; {len(plan.emotions)} emotions ({", ".join(plan.emotions)}); chance accuracy
{1 / len(plan.emotions):.3f}. Faces drawn in SynFER's `{plan.style}` style at {plan.image_size} px. Train faces:
{plan.train_per_class} per emotion (SynFER stream {seed}); held-out test faces: {plan.test_per_class} per emotion
(stream {seed + 1}). Total wall time {summary["total_seconds"]:.0f} s.

```
{table(rows)}
```

**{lift_line(lift)}**, on the same held-out faces paired by id (`eval-sft/` and `eval-grpo/` predictions).

![accuracy per stage, GRPO over its steps, confusion matrices before and after GRPO](story.png)

[story.png](story.png): accuracy per stage with 95% intervals; GRPO's mean accuracy reward on its sampled
completions (from `grpo/trainer_state.json`) and greedy held-out accuracy over its steps; the confusion matrices
after SFT and after GRPO.

| stage | accuracy | 95% interval |
|---|---|---|
{intervals}

Held-out accuracy over GRPO steps (step: accuracy): {held_out}.

Stages: **vision** (stage 0) pre-trains the from-scratch vision tower alone, on the train faces' labels, with a
linear classifier on the maximum over its image tokens{token_term}. A randomly initialised tower read through the
language model does not learn SynFER in this budget (docs/quickstart.md). Its accuracy is that classifier's on the
held-out faces, not a generated answer (hence no well-formed or unparsed rate); the classifier is then
discarded. **sft** (CoT cold start) and **grpo** (FER rewards) train the language model and the vision merger with
the tower frozen (`freeze_vision_tower`), and are scored by `unifer eval` on generated answers.

Per-stage evaluation folders (`eval-*/`) hold predictions, metrics.json, report.md and confusion matrices;
`eval-grpo-steps/step-*/` hold the evaluations during GRPO. The final model is `final-model/` (loadable with
`AutoModelForImageTextToText`; the Space's offline default).

## Plan

Every training setting is in the stages' recipes (`trainers/recipes/{{vision,sft,grpo}}_quickstart.yaml`); the plan's
`vision`, `sft` and `grpo` override recipe keys, and `stage_settings` is each recipe with those overrides applied.

```json
{plan_json}
```
"""
    (out / "report.md").write_text(text)
    (out / "quickstart.json").write_text(
        json.dumps({"seed": seed, **summary, "plan": {**asdict(plan), "stage_settings": settings}}, indent=2)
    )


def run_quickstart(out: Path, plan: Plan, seed: int = 0) -> dict[str, Any]:
    """Run every stage into ``out`` with ``plan.torch_threads`` PyTorch threads; returns the summary
    ``quickstart.json`` holds (``rows`` per stage, ``grpo_lift``, ``grpo_curve``, ``total_seconds``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(plan.torch_threads)
    try:
        return _run_stages(out, plan, seed)
    finally:
        torch.set_num_threads(threads)


def _run_stages(out: Path, plan: Plan, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    data = draw_faces(out / "synfer", plan, seed)
    logger.info(
        "[%5.0fs] SynFER drawn: %d/%d faces per emotion (train/test)",
        time.perf_counter() - started,
        plan.train_per_class,
        plan.test_per_class,
    )
    shutil.rmtree(out / "eval-grpo-steps", ignore_errors=True)
    stage_start = time.perf_counter()
    model, probe = pretrain_vision(build_model(out / "model-init", plan, seed), data, out / "vision", plan, seed)
    test_faces = plan.test_per_class * len(plan.emotions)
    rows = [
        {
            "stage": "vision",
            "seconds": time.perf_counter() - stage_start,
            "accuracy": probe,
            "ci95": accuracy_interval(probe, test_faces),
        }
    ]
    logger.info("[%5.0fs] vision (stage 0): probe accuracy %.3f", time.perf_counter() - started, probe)
    for stage in ("sft", "grpo"):
        stage_start = time.perf_counter()
        callbacks = [held_out_curve_callback(data, out / "eval-grpo-steps", plan)] if stage == "grpo" else None
        model = train_stage(stage, model, data, out / stage, plan, seed, callbacks)
        result = evaluate_stage(model, data, out / f"eval-{stage}", plan)
        rows.append(
            {
                "stage": stage,
                "seconds": time.perf_counter() - stage_start,
                "ci95": result["accuracy_ci95"],
                **{key: result[key] for key in ("accuracy", "uar", "well_formed_rate", "unparsed_rate")},
            }
        )
        logger.info("[%5.0fs] %s: accuracy %.3f", time.perf_counter() - started, stage, result["accuracy"])
    _save_final_model(model, out, data)
    summary = {"rows": rows, "grpo_lift": grpo_lift(out), "grpo_curve": grpo_curve(out)}
    draw_story(out, summary, plan)
    summary["total_seconds"] = time.perf_counter() - started
    write_report(out, summary, plan, seed)
    return summary


def draw_faces(data: Path, plan: Plan, seed: int) -> Path:
    """SynFER in the benchmark, CoT and RLVR shapes: train faces from stream ``seed``, test faces from the next."""
    from unifer.data.synfer_dataset import build_synfer

    shutil.rmtree(data, ignore_errors=True)
    build_synfer(
        data,
        n_per_class=plan.train_per_class,
        test_per_class=plan.test_per_class,
        seed=seed,
        size=plan.image_size,
        emotions=plan.emotions,
        style=plan.style,
    )
    return data


def _save_final_model(model: Path, out: Path, data: Path) -> Path:
    """``final-model/``: the GRPO model without checkpoints, with a model card of its held-out results."""
    from unifer.model_card import build_card

    final = out / "final-model"
    shutil.rmtree(final, ignore_errors=True)
    shutil.copytree(model, final, ignore=shutil.ignore_patterns("checkpoint-*"))
    # The evaluation's run.json names the benchmark; both data folders' cards say SYNTHETIC, and so does the card.
    # The model stays local (the Space's offline default): its card names the local data folders, not Hub ids.
    card = build_card(
        final,
        out / "eval-grpo" / "metrics.json",
        model_name="unifer-quickstart (synthetic)",
        train_datasets=[str(data)],
        synthetic=True,
        for_hub=False,
    )
    card.save(final / "README.md")
    return final
