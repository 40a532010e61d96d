"""How sure is an SFT model? Sample K CoTs per held-out face (temperature 1) and count the right answers.

Prints, per emotion, the share of sampled answers that are right (the model's posterior on the true class,
roughly) and the accuracy of the majority answer of the K samples — to tell a greedy-decoding loss (a confident
posterior that greedy decoding misses) from a reading loss (an unsure posterior).

    python benchmarks/diagnostics/sample_posterior.py quickstart_out/sft quickstart_out/synfer
"""

import argparse
from collections import Counter

import torch
from datasets import load_dataset

import unifer.modeling_unifer  # noqa: F401  (registers the UniFER Auto classes)
from unifer.answers import parse
from unifer.images import prepare_image
from unifer.inference import TransformersEngine, make_requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data", help="the quickstart's SynFER folder (benchmark config)")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--size", type=int, default=56)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    engine = TransformersEngine(args.model)
    test = load_dataset(args.data, "benchmark", split="test")
    names = test.features["label"].names
    prepared = [prepare_image(face, args.size) for face in test["image"]]  # decoded once, grouped below
    for label, emotion in enumerate(names):
        faces = [face for face, face_label in zip(prepared, test["label"]) if face_label == label]
        requests = make_requests(faces, names) * args.samples
        generations = engine.generate(requests, batch_size=64, max_new_tokens=96, do_sample=True, temperature=1.0)
        answers = [Counter() for _ in faces]
        for i, generation in enumerate(generations):
            answers[i % len(faces)][parse(generation.text).answer] += 1
        share = sum(counts[emotion] for counts in answers) / (args.samples * len(faces))
        majority = sum(counts.most_common(1)[0][0] == emotion for counts in answers) / len(faces)
        print(f"{emotion:>10}: sampled answers right {share:.2f}, majority of {args.samples} right {majority:.2f}")


if __name__ == "__main__":
    main()
