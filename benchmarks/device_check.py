"""The GPU figures of docs/performance.md, in one run of at most 8 minutes on one H200, from random weights (nothing
is downloaded):

a) inference: the batched transformers engine (bf16) against the official per-sample fp32 loop, on a
   Qwen2.5-VL-7B-architecture model and the same SynFER items in FERBench format (224 px faces, the FERBench
   question, a fixed number of new tokens each): items/s of each, the ratio, peak GPU memory;
b) training: SFT and GRPO steps of a ~0.5B-parameter Qwen2.5-VL in bf16 through UniFER's trainers: step time,
   peak GPU memory, whether every loss is finite;
c) the tiny test model's greedy outputs on the GPU (fp32 and bf16) against the CPU (fp32): agreement rate.

It writes ``device_check.json`` and ``device_check.md`` into ``--out`` after every part, so a run cut short keeps
what it measured. A part that fails is recorded with its error and the others still run (exit status 1).
``--dry-run`` runs every part at tiny sizes on the CPU; the test suite does, so the script cannot rot.

    bash benchmarks/device_check.sh --out DIR              # the GPU machine: see docs/performance.md
    python benchmarks/device_check.py --dry-run --out DIR  # CPU, under a minute

``unifer`` is imported from this checkout, installed or not (setup.py's folder → package map, read from
setup.py), so the GPU machine needs no install step.
"""

from __future__ import annotations

import argparse
import ast
import gc
import importlib.abc
import importlib.util
import json
import math
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

REPO = Path(__file__).resolve().parents[1]


class CheckoutPackages(importlib.abc.MetaPathFinder):
    """Finds the packages setup.py maps to folders (``unifer`` → ``modeling_unifer/``, ``unifer.data`` →
    ``dataset_scripts/``, …) in the checkout; modules inside them, and everything else, the usual finders find."""

    def __init__(self, folders: dict[str, Path]):
        self.folders = folders

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        folder = self.folders.get(fullname)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )


def use_checkout(setup_py: Path = REPO / "setup.py") -> None:
    """Import ``unifer`` from this checkout: ``package_dir`` is read from setup.py as written, and its finder goes
    first, ahead of any installed copy."""
    for node in ast.walk(ast.parse(setup_py.read_text(encoding="utf-8"))):
        if isinstance(node, ast.keyword) and node.arg == "package_dir":
            folders = {name: setup_py.parent / folder for name, folder in ast.literal_eval(node.value).items()}
            sys.meta_path.insert(0, CheckoutPackages(folders))
            return
    raise RuntimeError(f"{setup_py} has no package_dir to map unifer's folders from.")


# Qwen2.5-VL-7B-Instruct's shapes (its config.json; vocabulary rows included, the tiny tokenizer uses the first few).
SEVEN_B = dict(
    hidden_size=3584,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    intermediate_size=18944,
    vocab_size=152064,
    max_position_embeddings=128000,
    vision_depth=32,
    vision_hidden_size=1280,
    vision_num_heads=16,
    vision_intermediate_size=3420,
)
# Qwen2.5-0.5B's language model under a 2-block Qwen2.5-VL vision tower: about 0.56B parameters.
HALF_B = dict(
    hidden_size=896,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    intermediate_size=4864,
    vocab_size=151936,
    tie_word_embeddings=True,
    max_position_embeddings=32768,
    vision_depth=2,
    vision_hidden_size=1280,
    vision_num_heads=16,
    vision_intermediate_size=3420,
)
# Qwen2.5-VL's image processor limits: a 224 px face becomes 16×16 patches, 64 image tokens.
QWEN_PIXELS = {"min_pixels": 56 * 56, "max_pixels": 28 * 28 * 16384}


@dataclass(frozen=True)
class Sizes:
    """What one run measures: the full run on a GPU, or the dry run's tiny stand-ins on the CPU."""

    inference_label: str  # what a)'s model is, for the summary
    train_label: str
    items: int  # FERBench-format items for a) and c)
    new_tokens: int  # fixed new tokens per item in a) (min_new_tokens = max_new_tokens)
    batch_sizes: tuple[int, ...]  # the batched engine's sides in a)
    per_sample_seconds: float  # a)'s per-sample loop stops after this long (its rate needs no more items)
    inference_model: dict[str, Any]  # unifer.tiny.tiny_config overrides
    train_model: dict[str, Any]
    pixels: dict[str, int]  # the processor's min_pixels and max_pixels; empty: the tiny processor's
    train_steps: int
    sft_batch: int
    grpo_batch: int
    grpo_generations: int
    grpo_completion_tokens: int
    agreement_tokens: int  # greedy tokens per item in c)
    notes: list[str] = field(default_factory=list)


FULL = Sizes(
    inference_label="Qwen2.5-VL-7B architecture",
    train_label="Qwen2.5-VL, Qwen2.5-0.5B language model",
    items=64,
    new_tokens=128,
    batch_sizes=(16, 64),
    per_sample_seconds=150,
    inference_model=SEVEN_B,
    train_model=HALF_B,
    pixels=QWEN_PIXELS,
    train_steps=5,
    sft_batch=4,
    grpo_batch=8,
    grpo_generations=4,
    grpo_completion_tokens=128,
    agreement_tokens=32,
)
DRY = Sizes(
    inference_label="tiny Qwen2.5-VL (unifer.tiny)",
    train_label="tiny Qwen2.5-VL (unifer.tiny)",
    items=4,
    new_tokens=6,
    batch_sizes=(2, 4),
    per_sample_seconds=60,
    inference_model={},
    train_model={},
    pixels={},
    train_steps=2,
    sft_batch=2,
    grpo_batch=4,
    grpo_generations=2,
    grpo_completion_tokens=6,
    agreement_tokens=8,
    notes=["dry run: tiny models on the CPU; the figures check the script, they measure nothing"],
)


@dataclass
class Run:
    """What the parts share: the sizes, the device, a scratch folder, the FERBench-format requests."""

    sizes: Sizes
    device: str
    workdir: Path
    requests: list
    training_inputs: tuple[Path, Path, int] | None = None  # b)'s (model folder, SynFER folder, parameters), made once


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gib(device: str) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None


def release_memory(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def random_model(overrides: dict[str, Any], pixels: dict[str, int], dtype: torch.dtype, device: str):
    """A random-initialised Qwen2.5-VL of ``overrides``' shape with the tiny tokenizer, and its processor."""
    from transformers import AutoModelForImageTextToText, GenerationConfig

    from unifer.tiny import build_processor, build_tokenizer, tiny_config

    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer, **pixels)
    config = tiny_config(tokenizer, **overrides)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype, attn_implementation="sdpa")
    end_of_turn, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id
    model.generation_config = GenerationConfig(
        bos_token_id=pad, eos_token_id=[end_of_turn, pad], pad_token_id=pad, do_sample=False
    )
    return model.eval(), processor


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def fer_requests(count: int) -> list:
    """The first ``count`` items of SynFER's benchmark stream (``unifer data build synfer``'s test faces, 224 px)
    as ``unifer eval`` asks them: the FERBench question over the SynFER candidates."""
    from unifer.data import synfer
    from unifer.data.synfer_dataset import synfer_emotions
    from unifer.inference import make_requests

    candidates = synfer_emotions(None)
    per_class = -(-count // len(candidates))
    faces = [image for _, _, image in synfer.iter_faces(per_class, seed=1, size=224, emotions=candidates)]
    return make_requests(faces[:count], candidates, names=[f"synfer-{i:05d}" for i in range(count)])


def timed_generation(engine, requests: list, batch_size: int, tokens: int, device: str, cap: float | None = None):
    """Generate exactly ``tokens`` new tokens per item, ``batch_size`` items at a time; stop after ``cap``
    seconds (every item costs the same, so the rate over the items done is the rate)."""
    synchronize(device)
    reset_peak_memory(device)
    started = time.perf_counter()
    done = 0
    for batch in engine.generate_batches(
        requests, batch_size=batch_size, max_new_tokens=tokens, min_new_tokens=tokens
    ):
        done += len(batch)
        if cap is not None and time.perf_counter() - started > cap:
            break
    synchronize(device)
    seconds = time.perf_counter() - started
    return {
        "batch_size": batch_size,
        "items": done,
        "of_items": len(requests),
        "seconds": round(seconds, 3),
        "items_per_s": round(done / seconds, 4),
        "generated_tokens_per_s": round(done * tokens / seconds, 2),
        "peak_memory_gib": peak_memory_gib(device),
    }


def check_inference(run: Run) -> dict[str, Any]:
    """a) The official per-sample loop (batch 1, fp32) against the batched engine (bf16), same items and weights."""
    from unifer.inference import TransformersEngine

    sizes, device, requests = run.sizes, run.device, run.requests
    model, processor = random_model(sizes.inference_model, sizes.pixels, torch.float32, device)
    engine = TransformersEngine(model, processor)
    result: dict[str, Any] = {
        "model": sizes.inference_label,
        "parameters": parameter_count(model),
        "new_tokens": sizes.new_tokens,
    }
    engine.generate(requests[:2], batch_size=2, max_new_tokens=4)  # warm-up
    result["per_sample_fp32"] = timed_generation(
        engine, requests, 1, sizes.new_tokens, device, cap=sizes.per_sample_seconds
    )
    model.to(torch.bfloat16)  # in place: the fp32 copy is freed as the bf16 one is made
    release_memory(device)
    engine.generate(requests[:2], batch_size=2, max_new_tokens=4)  # warm-up
    result["batched_bf16"] = [
        timed_generation(engine, requests, batch_size, sizes.new_tokens, device) for batch_size in sizes.batch_sizes
    ]
    per_sample = result["per_sample_fp32"]["items_per_s"]
    result["speedup"] = {str(b["batch_size"]): round(b["items_per_s"] / per_sample, 2) for b in result["batched_bf16"]}
    return result


class StepTimer(TrainerCallback):
    """Wall time between optimizer steps (data, generation, forward, backward, update), the
    first from the start of training."""

    def __init__(self, device: str):
        self.device = device
        self.seconds: list[float] = []
        self._last = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        synchronize(self.device)
        self._last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        synchronize(self.device)
        now = time.perf_counter()
        self.seconds.append(now - self._last)
        self._last = now


def training_inputs(run: Run) -> tuple[Path, Path, int]:
    """The random ~0.5B model (saved in bf16 with its processor), a SynFER folder, and the model's parameter
    count, made once for b)."""
    if run.training_inputs is None:
        import datasets

        from unifer.data.synfer_dataset import build_synfer

        datasets.disable_progress_bars()

        sizes = run.sizes
        rows_per_class = -(-sizes.train_steps * max(sizes.sft_batch, sizes.grpo_batch) // 8)
        data = run.workdir / "synfer"
        build_synfer(data, n_per_class=rows_per_class, test_per_class=1, size=224, num_proc=1)
        model, processor = random_model(sizes.train_model, sizes.pixels, torch.bfloat16, run.device)
        model.save_pretrained(run.workdir / "train-model")
        processor.save_pretrained(run.workdir / "train-model")
        run.training_inputs = (run.workdir / "train-model", data, parameter_count(model))
        del model
        release_memory(run.device)
    return run.training_inputs


def check_training(run: Run, stage: str) -> dict[str, Any]:
    """b) ``train_steps`` steps of one stage through UniFER's trainer, in bf16 with gradient checkpointing (as the
    7B recipes train), from the saved random model."""
    from datasets import load_dataset
    from transformers import AutoModelForImageTextToText, PrinterCallback

    from unifer.trainers.configs import UniFERGRPOConfig, UniFERSFTConfig
    from unifer.trainers.grpo import UniFERGRPOTrainer
    from unifer.trainers.sft import UniFERSFTTrainer

    sizes, device = run.sizes, run.device
    model_path, data, parameters = training_inputs(run)
    common = dict(
        output_dir=str(run.workdir / stage),
        max_steps=sizes.train_steps,
        learning_rate=1e-5,
        bf16=True,
        use_cpu=device == "cpu",
        gradient_checkpointing=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    reset_peak_memory(device)
    model = AutoModelForImageTextToText.from_pretrained(
        model_path, dtype=torch.bfloat16, attn_implementation="sdpa", device_map=device
    )
    if stage == "sft":
        args = UniFERSFTConfig(**common, per_device_train_batch_size=sizes.sft_batch, max_length=2048)
        trainer = UniFERSFTTrainer(model, args=args, train_dataset=load_dataset(str(data), "cot", split="train"))
    else:
        args = UniFERGRPOConfig(
            **common,
            per_device_train_batch_size=sizes.grpo_batch,
            num_generations=sizes.grpo_generations,
            max_completion_length=sizes.grpo_completion_tokens,
            temperature=1.0,
            beta=0.04,
            loss_type="grpo",
        )
        trainer = UniFERGRPOTrainer(model, args=args, train_dataset=load_dataset(str(data), "rlvr", split="train"))
    timer = StepTimer(device)
    trainer.add_callback(timer)
    trainer.remove_callback(PrinterCallback)  # per-step log dicts would drown the report
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    result = {
        "model": sizes.train_label,
        "parameters": parameters,
        "steps": len(timer.seconds),
        "batch": args.per_device_train_batch_size,
        "first_step_s": round(timer.seconds[0], 3),
        "median_step_s": round(statistics.median(timer.seconds[1:] or timer.seconds), 3),
        "step_s": [round(s, 3) for s in timer.seconds],
        "peak_memory_gib": peak_memory_gib(device),
        "losses": losses,
        "losses_finite": bool(losses) and all(math.isfinite(loss) for loss in losses),
    }
    if stage == "grpo":
        result["completions_per_prompt"] = args.num_generations
        result["max_completion_tokens"] = args.max_completion_length
        result["mean_rewards"] = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
    del trainer, model
    return result


def agreement(reference: list[str], texts: list[str]) -> dict[str, Any]:
    """How far greedy texts agree with the reference: identical texts, and the mean shared prefix (as a share of
    the longer text)."""
    shared = []
    for a, b in zip(reference, texts):
        prefix = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        shared.append(prefix / max(len(a), len(b), 1))
    return {
        "items": len(reference),
        "identical_rate": round(sum(a == b for a, b in zip(reference, texts)) / len(reference), 4),
        "mean_shared_prefix": round(statistics.fmean(shared), 4),
    }


def check_agreement(run: Run) -> dict[str, Any]:
    """c) The tiny test model's greedy outputs on the run's device, fp32 and bf16, against fp32 on the CPU."""
    from unifer.inference import TransformersEngine
    from unifer.tiny import build_tiny_unifer

    path = str(build_tiny_unifer(run.workdir / "tiny", seed=0))
    settings = dict(batch_size=8, max_new_tokens=run.sizes.agreement_tokens)
    cpu = TransformersEngine(path, dtype=torch.float32, device_map="cpu")
    reference = [g.text for g in cpu.generate(run.requests, **settings)]
    result: dict[str, Any] = {"device": run.device, "new_tokens": run.sizes.agreement_tokens}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        engine = TransformersEngine(path, dtype=dtype, device_map=run.device)
        result[name] = agreement(reference, [g.text for g in engine.generate(run.requests, **settings)])
    return result


PARTS = {
    "inference": check_inference,
    "sft": lambda run: check_training(run, "sft"),
    "grpo": lambda run: check_training(run, "grpo"),
    "agreement": check_agreement,
}


def _count(parameters: int) -> str:
    return f"{parameters / 1e9:.2f}B" if parameters >= 1e8 else f"{parameters / 1e6:.2f}M"


def _gib(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def markdown(report: dict[str, Any]) -> str:
    """The summary: one table per part, the environment, the sizes."""
    env, parts = report["environment"], report["parts"]
    packages = env["packages"]
    device = env["device"]
    lines = [
        f"# Device check, {report['started']}",
        "",
        f"{', '.join(device.get('names', [device['device']]))}; Python {env['python']}, "
        + ", ".join(
            f"{name} {packages.get(name)}" for name in ("torch", "transformers", "trl", "datasets", "accelerate")
        )
        + f"; {report['seconds']:.0f} s in all.",
        *[f"\n> {note}" for note in report["sizes"]["notes"]],
        "",
    ]
    for key, title in (
        ("inference", "a) Inference: batched engine vs the official per-sample loop"),
        ("sft", "b) SFT steps (UniFERSFTTrainer)"),
        ("grpo", "b) GRPO steps (UniFERGRPOTrainer)"),
        ("agreement", "c) Greedy outputs on the device vs the CPU (tiny model)"),
    ):
        if key not in parts:
            continue
        part = parts[key]
        lines += [f"## {title}", ""]
        if "error" in part:
            lines += [f"**Failed** after {part['seconds']:.0f} s: `{part['error']}`", ""]
            continue
        lines += RENDER[key](part) + [f"({part['seconds']:.0f} s)", ""]
    return "\n".join(lines)


def _inference_rows(part: dict[str, Any]) -> list[str]:
    single = part["per_sample_fp32"]
    rows = [
        f"{part['model']}, random weights ({_count(part['parameters'])} parameters); SynFER items in FERBench "
        f"format (224 px faces), {part['new_tokens']} new tokens each.",
        "",
        "| side | dtype | batch | items | items/s | generated tokens/s | peak GPU memory (GiB) | speed-up |",
        "|---|---|---|---|---|---|---|---|",
        f"| official per-sample loop | float32 | 1 | {single['items']} of {single['of_items']} | "
        f"{single['items_per_s']:.3f} | {single['generated_tokens_per_s']:.1f} | "
        f"{_gib(single['peak_memory_gib'])} | 1.00× |",
    ]
    for side in part["batched_bf16"]:
        rows.append(
            f"| batched engine | bfloat16 | {side['batch_size']} | {side['items']} of {side['of_items']} | "
            f"{side['items_per_s']:.3f} | {side['generated_tokens_per_s']:.1f} | {_gib(side['peak_memory_gib'])} | "
            f"**{part['speedup'][str(side['batch_size'])]:.2f}×** |"
        )
    return rows + [""]


def _training_rows(part: dict[str, Any]) -> list[str]:
    losses = ", ".join(f"{loss:.4g}" for loss in part["losses"])
    rows = [
        f"{part['model']}, random weights ({_count(part['parameters'])} parameters), bf16, gradient checkpointing."
    ]
    if "mean_rewards" in part:
        rewards = ", ".join(f"{reward:.3g}" for reward in part["mean_rewards"])
        rows[0] += (
            f" {part['completions_per_prompt']} completions per prompt, up to {part['max_completion_tokens']} tokens;"
            f" mean reward per step: {rewards}."
        )
    return rows + [
        "",
        "| steps | batch | first step (s) | median later step (s) | peak GPU memory (GiB) | losses | all finite |",
        "|---|---|---|---|---|---|---|",
        f"| {part['steps']} | {part['batch']} | {part['first_step_s']:.2f} | {part['median_step_s']:.2f} | "
        f"{_gib(part['peak_memory_gib'])} | {losses} | {'yes' if part['losses_finite'] else '**no**'} |",
        "",
    ]


def _agreement_rows(part: dict[str, Any]) -> list[str]:
    rows = [
        f"{part['new_tokens']} greedy tokens per item; reference: float32 on the CPU.",
        "",
        f"| on {part['device']} | items | identical texts | mean shared prefix |",
        "|---|---|---|---|",
    ]
    for name in ("float32", "bfloat16"):
        side = part[name]
        rows.append(f"| {name} | {side['items']} | {side['identical_rate']:.1%} | {side['mean_shared_prefix']:.1%} |")
    return rows + [""]


RENDER = {"inference": _inference_rows, "sft": _training_rows, "grpo": _training_rows, "agreement": _agreement_rows}


def write_report(report: dict[str, Any], out: Path) -> str:
    summary = markdown(report)
    (out / "device_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "device_check.md").write_text(summary + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for device_check.json and device_check.md")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: checks the script only")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS), help="default: all")
    parser.add_argument(
        "--per-sample-seconds", type=float, help="time cap of a)'s per-sample loop (default 150; dry run 60)"
    )
    args = parser.parse_args(argv)
    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA GPU is visible; --dry-run checks the script on the CPU.")
    sizes = DRY if args.dry_run else FULL
    if args.per_sample_seconds is not None:
        sizes = Sizes(**{**asdict(sizes), "per_sample_seconds": args.per_sample_seconds})

    import transformers

    import unifer
    from unifer import environment

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)  # deprecations would crowd out the figures
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(sys.argv),
        "dry_run": args.dry_run,
        "unifer_from": str(Path(unifer.__file__).resolve().parent),
        "environment": environment.collect(),
        "sizes": asdict(sizes),
        "parts": {},
        "seconds": 0.0,
    }
    with tempfile.TemporaryDirectory() as workdir:
        run = Run(sizes, device, Path(workdir), fer_requests(sizes.items))
        for key in args.parts:
            print(f"[{time.perf_counter() - started:6.0f} s] {key} …", flush=True)
            part_started = time.perf_counter()
            try:
                result = PARTS[key](run)
            except Exception as err:  # recorded; the other parts still run
                traceback.print_exc()
                result = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            release_memory(device)
            result["seconds"] = round(time.perf_counter() - part_started, 1)
            report["parts"][key] = result
            report["seconds"] = round(time.perf_counter() - started, 1)
            summary = write_report(report, args.out)
    print(summary, flush=True)
    return 1 if any("error" in part for part in report["parts"].values()) else 0


if __name__ == "__main__":
    use_checkout()
    sys.exit(main())
