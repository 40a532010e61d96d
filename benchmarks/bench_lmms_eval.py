"""`unifer eval` vs lmms-eval (FERBench task `ferbench_folder`) on the same items, model and settings: items/s.

Both run as the commands a user runs, once each, in bfloat16 (the only dtype lmms-eval's qwen2_5_vl wrapper loads),
greedy, the same batch size and output budget, faces at 224×224 with Qwen2.5-VL-7B's processor pixel limits (64 image
tokens). Prints each side's items/s over the whole command (start-up, model and data loading, generation,
scoring) and over generation alone, the ratios, and how many responses agree.

    python benchmarks/bench_lmms_eval.py                 # tiny model (7B pixel limits), 64 SynFER items, CPU
    python benchmarks/bench_lmms_eval.py --model PATH --benchmark FOLDER --device cuda --batch-size 16

Needs lmms-eval in the same environment (pip install -e ".[lmms-eval]").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unifer.jsonl import read_records
from unifer.lmms_eval_tasks import write_task_folder

# Qwen/Qwen2.5-VL-7B-Instruct's preprocessor_config.json (UniFER-7B's base).
MIN_PIXELS, MAX_PIXELS = 3136, 12845056
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}

# `unifer eval` in bf16: the CLI loads fp32 on CPU, lmms-eval cannot, so the engine is given its dtype.
UNIFER_EVAL = """
import sys, torch
from unifer.configs import EvalConfig
from unifer.evaluation import evaluate_model
from unifer.inference import TransformersEngine
model, benchmark, out, batch_size, max_new_tokens = sys.argv[1:]
engine = TransformersEngine(model, dtype=torch.bfloat16)
config = EvalConfig(model=model, benchmark=benchmark, output_dir=out, batch_size=int(batch_size),
                    max_new_tokens=int(max_new_tokens), extraction="paper", bootstrap=0)
evaluate_model(config, engine=engine)
"""


def tiny_model_with_7b_pixels(workdir: Path) -> Path:
    from transformers import AutoProcessor

    from unifer.tiny import build_tiny_unifer

    path = build_tiny_unifer(workdir / "tiny", seed=0)
    processor = AutoProcessor.from_pretrained(path)
    processor.image_processor.size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    processor.save_pretrained(path)
    return path


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of a command; on a shared machine CPU time is the steadier figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def run_unifer(args, model: Path, benchmark: Path, out: Path, env: dict[str, str]) -> dict:
    """Wall seconds, generation seconds (each batch: processor, generate, decode) and the records."""
    command = [sys.executable, "-c", UNIFER_EVAL, str(model), str(benchmark), str(out)]
    wall, cpu = timed([*command, str(args.batch_size), str(args.max_new_tokens)], out.parent, env)
    records = read_records(out / "predictions.jsonl")
    return {"wall": wall, "cpu": cpu, "generation": sum(r["seconds"] for r in records), "records": records}


def run_lmms_eval(args, model: Path, tasks: Path, out: Path, env: dict[str, str]) -> dict:
    """Wall seconds, generation seconds (lmms-eval's own timer: model.generate only) and the records."""
    device = f"device={args.device},device_map={args.device}"
    model_args = f"pretrained={model},{device},min_pixels={MIN_PIXELS},max_pixels={MAX_PIXELS}"
    command = [sys.executable, "-m", "lmms_eval", "--model", "qwen2_5_vl", "--model_args", model_args]
    command += ["--tasks", "ferbench_folder", "--include_path", str(tasks), "--batch_size", str(args.batch_size)]
    command += ["--gen_kwargs", f"max_new_tokens={args.max_new_tokens}", "--output_path", str(out)]
    wall, cpu = timed(command, out.parent, env)
    [results] = out.rglob("*_results.json")  # lmms-eval exits 0 after errors: judge by what it wrote
    records = [r for path in sorted((out / "unifer_predictions").glob("*.jsonl")) for r in read_records(path)]
    return {
        "wall": wall,
        "cpu": cpu,
        "generation": json.loads(results.read_text())["throughput"]["total_elapsed_time"],
        "records": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the tiny model with Qwen2.5-VL-7B's pixel limits)")
    parser.add_argument("--benchmark", help="FERBench-format folder (default: SynFER, --items faces)")
    parser.add_argument("--items", type=int, default=64, help="SynFER faces when no --benchmark (8 emotions)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--device", default="cpu", help="lmms-eval's device (cpu or cuda)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    args = parser.parse_args()

    runs: dict[str, list[dict]] = {"unifer eval": [], "lmms-eval": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = Path(args.model) if args.model else tiny_model_with_7b_pixels(work)
        if args.benchmark:
            benchmark = Path(args.benchmark)
        else:
            from unifer.data.synfer_dataset import build_synfer

            benchmark = work / "synfer"
            build_synfer(benchmark, n_per_class=1, test_per_class=max(1, args.items // 8), num_proc=1)
        tasks = write_task_folder(str(benchmark), work / "tasks")
        env = {**os.environ, **OFFLINE, "HF_DATASETS_CACHE": str(work / "hf_datasets")}
        for round_ in range(args.rounds):
            sides = ["unifer eval", "lmms-eval"] if round_ % 2 == 0 else ["lmms-eval", "unifer eval"]
            for side in sides:  # alternate who goes first, so drift in the machine's load hits both alike
                out = work / f"round{round_}" / side.replace(" ", "_") / "out"
                out.parent.mkdir(parents=True)
                run = run_unifer if side == "unifer eval" else run_lmms_eval
                runs[side].append(run(args, model, benchmark if run is run_unifer else tasks, out, env))

    ours, theirs = runs["unifer eval"][0]["records"], runs["lmms-eval"][0]["records"]
    if len(theirs) != len(ours):
        sys.exit(f"lmms-eval wrote {len(theirs)} predictions for {len(ours)} items.")
    n = len(ours)
    responses = {r["id"]: r["response"] for r in theirs}
    agree = sum(r["response"].strip() == responses[r["id"]] for r in ours)
    median = {
        side: {key: statistics.median(r[key] for r in results) for key in ("wall", "cpu", "generation")}
        for side, results in runs.items()
    }
    print(
        f"{n} items, batch {args.batch_size}, up to {args.max_new_tokens} new tokens, bf16, {args.device}, "
        f"median of {args.rounds} interleaved rounds"
    )
    print("| side | whole command | its CPU time | generation |")
    print("|---|---|---|---|")
    for side, m in median.items():
        print(
            f"| {side} | {m['wall']:.1f} s, {n / m['wall']:.2f} items/s | {m['cpu']:.1f} s "
            f"| {m['generation']:.1f} s, {n / m['generation']:.2f} items/s |"
        )
    ours_m, theirs_m = median["unifer eval"], median["lmms-eval"]
    ratios = [theirs_m[key] / ours_m[key] for key in ("wall", "cpu", "generation")]
    print("| ratio (unifer eval / lmms-eval, items per second) | " + " | ".join(f"{r:.2f}×" for r in ratios) + " |")
    for side, results in runs.items():
        rounds = ", ".join(
            f"{r['wall']:.1f} s ({r['cpu']:.1f} s CPU, {r['generation']:.1f} s generating)" for r in results
        )
        print(f"{side}, each round: {rounds}")
    print(f"responses equal (surrounding whitespace aside): {agree} of {n}")


if __name__ == "__main__":
    main()
