"""Throughput of the transformers engine: batch 1 (the official per-sample loop) vs a larger batch.

Same items, same fixed output length (min_new_tokens = max_new_tokens, so batching cannot win by stopping early),
interleaved rounds; prints items/s, generated tokens/s and the ratio.

    python benchmarks/bench_engine.py                       # tiny model, CPU
    python benchmarks/bench_engine.py --model-size 7b       # random-initialised Qwen2.5-VL-7B-sized, bf16, GPU
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from unifer.data.synfer import SYNFER_EMOTIONS, draw_face
from unifer.inference import TransformersEngine, make_requests

# Qwen2.5-VL-7B-Instruct's shapes, for a random-initialised model of the real size (no download needed).
SEVEN_B = dict(
    hidden_size=3584,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    intermediate_size=18944,
    vision_depth=32,
    vision_hidden_size=1280,
    vision_num_heads=16,
    vision_intermediate_size=3420,
)


def build_engine(model_size: str, workdir: str) -> TransformersEngine:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from unifer.tiny import build_processor, build_tokenizer, tiny_config

    if model_size == "tiny":
        from unifer.tiny import build_tiny_unifer

        return TransformersEngine(build_tiny_unifer(f"{workdir}/tiny", seed=0))
    tokenizer = build_tokenizer()
    config = tiny_config(tokenizer, **SEVEN_B)
    with torch.device("cuda"):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    processor = build_processor(tokenizer)
    processor.save_pretrained(f"{workdir}/proc")
    return TransformersEngine(model.eval(), AutoProcessor.from_pretrained(f"{workdir}/proc"))


def timed(engine, requests, batch_size: int, tokens: int) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    engine.generate(requests, batch_size=batch_size, max_new_tokens=tokens, min_new_tokens=tokens)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-size", choices=["tiny", "7b"], default="tiny")
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=32, help="fixed output length per item")
    parser.add_argument("--batch-size", type=int, default=16, help="the batched side (64 for the 7B run)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        engine = build_engine(args.model_size, workdir)
        faces = [draw_face(SYNFER_EMOTIONS[i % 8], i) for i in range(args.items)]
        requests = make_requests(faces, SYNFER_EMOTIONS)
        timed(engine, requests[:2], 2, 4)  # warm-up
        times = {1: [], args.batch_size: []}
        for _ in range(args.rounds):  # interleaved, so machine noise hits both sides alike
            for batch_size in times:
                times[batch_size].append(timed(engine, requests, batch_size, args.tokens))
    print(
        f"model={args.model_size} items={args.items} tokens/item={args.tokens} rounds={args.rounds} "
        f"device={'cuda' if torch.cuda.is_available() else 'cpu'}"
    )
    medians = {b: statistics.median(t) for b, t in times.items()}
    for batch_size, seconds in medians.items():
        print(
            f"batch {batch_size:>3}: {args.items / seconds:8.2f} items/s  "
            f"{args.items * args.tokens / seconds:9.1f} generated tokens/s  (median of {args.rounds})"
        )
    print(f"speed-up batch {args.batch_size} vs batch 1: {medians[1] / medians[args.batch_size]:.1f}x")


if __name__ == "__main__":
    main()
