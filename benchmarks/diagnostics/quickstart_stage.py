"""Run one stage of `unifer quickstart` on its own, with the plan changed, reusing earlier stages' outputs.

The quickstart's own functions do the work (stage 0, ``unifer train`` through ``train_stage``, ``unifer eval``
through ``evaluate_stage``), so a stage run here is the stage the quickstart runs; ``--set`` changes the plan, a
JSON object whose ``vision``, ``sft`` and ``grpo`` entries are merged key by key into the plan's overrides of the
stages' recipes (trainers/recipes/*_quickstart.yaml). Used for the sixth round of docs/quickstart.md:

    python benchmarks/diagnostics/quickstart_stage.py data  runs/data
    python benchmarks/diagnostics/quickstart_stage.py vision runs/v --data runs/data --set '{"vision": {"max_steps": 250}}'
    python benchmarks/diagnostics/quickstart_stage.py sft  runs/v/s --data runs/data --model runs/v/vision
    python benchmarks/diagnostics/quickstart_stage.py grpo runs/v/s/g --data runs/data --model runs/v/s/sft \
        --before runs/v/s/eval-sft

Each prints a ``RESULT`` line (accuracy, well-formed rate, seconds); ``grpo`` also prints the paired lift over
``--before`` and the held-out curve.
"""

import argparse
import json
import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch

from unifer import quickstart


def changed_plan(changes: dict) -> quickstart.Plan:
    plan = quickstart.Plan()
    merged = {key: {**getattr(plan, key), **changes.pop(key)} for key in ("vision", "sft", "grpo") if key in changes}
    return replace(plan, **merged, **changes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=["data", "vision", "sft", "grpo"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--data", type=Path, help="a SynFER folder made by the data stage")
    parser.add_argument("--model", type=Path, help="the previous stage's model folder")
    parser.add_argument("--before", type=Path, help="grpo: the SFT model's evaluation folder, for the paired lift")
    parser.add_argument("--set", default="{}", help="plan changes, as JSON")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    plan = changed_plan(json.loads(args.set))
    torch.set_num_threads(plan.torch_threads)  # as the quickstart runs, and its numbers depend on it
    started = time.perf_counter()
    if args.stage == "data":
        quickstart.draw_faces(args.out, plan, args.seed)
        print(f"RESULT data {time.perf_counter() - started:.1f} s")
    elif args.stage == "vision":
        model = quickstart.build_model(args.out / "model-init", plan, args.seed)
        _, probe = quickstart.pretrain_vision(model, args.data, args.out / "vision", plan, args.seed)
        print(f"RESULT vision probe {probe:.3f} in {time.perf_counter() - started:.1f} s")
    else:
        curve = quickstart.held_out_curve_callback(args.data, args.out / "eval-grpo-steps", plan)
        callbacks = [curve] if args.stage == "grpo" else None
        quickstart.train_stage(args.stage, args.model, args.data, args.out / args.stage, plan, args.seed, callbacks)
        trained = time.perf_counter()
        result = quickstart.evaluate_stage(args.out / args.stage, args.data, args.out / f"eval-{args.stage}", plan)
        print(
            f"RESULT {args.stage} accuracy {result['accuracy']:.3f} well-formed {result['well_formed_rate']:.3f} "
            f"train {trained - started:.1f} s, eval {time.perf_counter() - trained:.1f} s"
        )
        print("confusion", result["overall"]["confusion_matrix"])
        if args.stage == "grpo":
            shutil.copytree(args.before, args.out / "eval-sft", dirs_exist_ok=True)
            print("lift", quickstart.grpo_lift(args.out))
            print("curve", quickstart.grpo_curve(args.out))


if __name__ == "__main__":  # drawing faces starts worker processes, which import this file again
    main()
