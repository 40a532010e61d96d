"""``unifer quickstart``: what runs offline today, end to end, on a fresh machine.

It builds the tiny random-initialised model, draws SynFER faces and asks the model about them. The weights are
UNTRAINED, so the answers are noise: this proves the wiring (tokenizer, processor, chat template, generation,
answer parsing), not accuracy. Training stages are added by the training issue.
"""
from __future__ import annotations

import time
from pathlib import Path

BANNER = ("NOTE: this quickstart uses a tiny RANDOM-INITIALISED model and SYNTHETIC cartoon faces (SynFER). "
          "The weights are untrained: its answers are meaningless and no accuracy is claimed.")


def run(args) -> int:
    from .data.synfer import SYNFER_EMOTIONS, iter_faces
    from .inference import TransformersEngine, predict_with_engine
    from .testing import build_tiny_unifer

    print(BANNER)
    out = Path(args.out)
    started = time.perf_counter()
    model_dir = build_tiny_unifer(out / "tiny-unifer", seed=args.seed)
    print(f"built the tiny model in {time.perf_counter() - started:.1f}s -> {model_dir}")
    faces = list(iter_faces(1, seed=args.seed, size=224))
    predictions = predict_with_engine(TransformersEngine(model_dir), [image for _, _, image in faces],
                                      SYNFER_EMOTIONS, max_new_tokens=args.max_new_tokens)
    print(f"\n{'true label':<11} {'parsed':<10} {'p(true)':>8}  response (untrained model)")
    for (_, emotion, _), prediction in zip(faces, predictions):
        print(f"{emotion:<11} {str(prediction.label):<10} {prediction.probabilities[emotion]:>8.3f}  "
              f"{prediction.raw_text[:50]!r}")
    print(f"\ndone in {time.perf_counter() - started:.1f}s. {BANNER}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("quickstart", help="offline end-to-end demo on SynFER faces (tiny model)")
    parser.add_argument("--out", default="quickstart_out", help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.set_defaults(handler=run)
