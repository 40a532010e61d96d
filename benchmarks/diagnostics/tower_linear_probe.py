"""What a stage-0 vision tower encodes: logistic regression on its frozen merged tokens, max- and mean-pooled.

Targets: the expression and the drawn features the CoT describes (eyes, mouth, extras; `synfer.geometry`).
Train on the first `--n_train` faces of the quickstart's `rlvr` split, score on its `benchmark` split.

    python benchmarks/diagnostics/tower_linear_probe.py quickstart_out/vision quickstart_out/synfer
"""

import argparse

import numpy as np
import torch
from datasets import load_dataset
from sklearn.linear_model import LogisticRegression
from transformers import AutoModelForImageTextToText, AutoProcessor

import unifer.modeling_unifer  # noqa: F401  (registers the UniFER Auto classes)
from unifer.data.synfer import geometry
from unifer.data.synfer_dataset import stream_jobs
from unifer.trainers.vision_pretraining import EncodedFaces, collate_faces


def tokens(model, processor, dataset, size: int) -> torch.Tensor:
    """(faces, merged tokens, width) from the tower."""
    faces = EncodedFaces(
        dataset.remove_columns([c for c in dataset.column_names if c == "label"]).add_column(
            "label", [0] * len(dataset)
        ),
        processor.image_processor,
        size,
    )
    out = []
    with torch.no_grad():
        for start in range(0, len(faces), 128):
            batch = collate_faces([faces[i] for i in range(start, min(start + 128, len(faces)))])
            merged = model.model.visual(batch["pixel_values"], grid_thw=batch["image_grid_thw"]).pooler_output
            out.append(merged.view(len(batch["image_grid_thw"]), -1, merged.shape[-1]))
    return torch.cat(out)


def drawn(emotions, stream: int, n: int) -> list[dict]:
    """Expression and drawn features of a SynFER stream's first ``n`` faces, in build_synfer's row order."""
    jobs = stream_jobs(emotions, -(-n // len(emotions)), stream, size=0)[:n]
    return [{"emotion": emotion, **geometry(emotion, seed)} for emotion, seed, *_ in jobs]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tower", help="a stage-0 model folder (quickstart_out/vision)")
    parser.add_argument("data", help="the quickstart's SynFER folder")
    parser.add_argument("--n_train", type=int, default=3000)
    parser.add_argument("--size", type=int, default=56)
    parser.add_argument("--seed", type=int, default=0, help="the quickstart's seed (train stream; test is seed + 1)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = AutoModelForImageTextToText.from_pretrained(args.tower).eval()
    processor = AutoProcessor.from_pretrained(args.tower)
    train = load_dataset(args.data, "rlvr", split="train").select(range(args.n_train))
    test = load_dataset(args.data, "benchmark", split="test")
    emotions = test.features["label"].names  # canonical order, as build_synfer cycles them
    train_rows, test_rows = drawn(emotions, args.seed, len(train)), drawn(emotions, args.seed + 1, len(test))
    assert [r["emotion"] for r in train_rows] == train["solution"], "rows are not SynFER stream --seed"
    x_train, x_test = tokens(model, processor, train, args.size), tokens(model, processor, test, args.size)
    for name in ("emotion", "eyes", "mouth", "extras"):
        y_train = np.array([str(r[name]) for r in train_rows])
        y_test = np.array([str(r[name]) for r in test_rows])
        happy = np.array([r["emotion"] == "happiness" for r in test_rows])
        for pool in ("max", "mean"):
            pooled = (lambda x: x.amax(1)) if pool == "max" else (lambda x: x.mean(1))
            predicted = (
                LogisticRegression(max_iter=2000).fit(pooled(x_train).numpy(), y_train).predict(pooled(x_test).numpy())
            )
            line = f"{name:>7} {pool:>4}: {np.mean(predicted == y_test):.3f}"
            if name == "eyes":
                line += f" (happy faces only {np.mean(predicted[happy] == y_test[happy]):.2f})"
            print(line, flush=True)


if __name__ == "__main__":
    main()
