"""CPU inference with torch's default thread count vs ``unifer.inference.set_cpu_threads``'s policy, on a machine
left as it is and with a competing process keeping one core busy.

The transformers engine generates the same items with a fixed output length (min_new_tokens = max_new_tokens) under
each of the four conditions, interleaved round by round so machine noise hits all of them alike; prints the median
items/s per condition and the ratios. The competitor is a second Python process spinning in a loop (one core).

    HF_HUB_OFFLINE=1 python benchmarks/bench_threads.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

#: torch's own count, read before anything sets it (one thread per core unless OMP_NUM_THREADS says otherwise).
TORCH_DEFAULT_THREADS = torch.get_num_threads()


def items_per_second(engine, requests, threads: int, tokens: int) -> float:
    torch.set_num_threads(threads)
    started = time.perf_counter()
    engine.generate(requests, batch_size=8, max_new_tokens=tokens, min_new_tokens=tokens)
    return len(requests) / (time.perf_counter() - started)


def main() -> None:
    from unifer.data.synfer import SYNFER_EMOTIONS, draw_face
    from unifer.inference import TransformersEngine, make_requests, set_cpu_threads
    from unifer.tiny import build_tiny_unifer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=16, help="fixed output length per item")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS"):
        sys.exit("Unset OMP_NUM_THREADS: the benchmark compares torch's default with the policy's choice.")

    policy = set_cpu_threads()
    with tempfile.TemporaryDirectory() as workdir:
        engine = TransformersEngine(build_tiny_unifer(f"{workdir}/tiny", seed=0))
    requests = make_requests([draw_face(SYNFER_EMOTIONS[i % 8], i) for i in range(args.items)], SYNFER_EMOTIONS)
    items_per_second(engine, requests[:2], policy, 4)  # warm-up
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for load in ("as is", "+1 busy process"):
            competitor = None
            if load != "as is":
                competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(0.5)
            try:
                for name, threads in (("torch default", TORCH_DEFAULT_THREADS), ("policy", policy)):
                    rate = items_per_second(engine, requests, threads, args.tokens)
                    rates.setdefault((load, name), []).append(rate)
            finally:
                if competitor is not None:
                    competitor.kill()
                    competitor.wait()
    print(
        f"tiny model (random weights), CPU, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"{args.items} items x {args.tokens} tokens, batch 8, median of {args.rounds} interleaved rounds"
    )
    print(f"torch default: {TORCH_DEFAULT_THREADS} threads; policy (set_cpu_threads): {policy} threads")
    median = {key: statistics.median(values) for key, values in rates.items()}
    for load in ("as is", "+1 busy process"):
        default, chosen = median[(load, "torch default")], median[(load, "policy")]
        print(
            f"{load:>16}: torch default {default:7.2f} items/s | policy {chosen:7.2f} items/s | "
            f"policy/default {chosen / default:5.2f}x"
        )
    for name in ("torch default", "policy"):
        kept = median[("+1 busy process", name)] / median[("as is", name)]
        print(f"{name:>16}: busy/as-is {kept:5.2f}x")


if __name__ == "__main__":
    main()
