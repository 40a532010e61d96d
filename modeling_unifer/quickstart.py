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
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from .answers import extract_label, parse
    from .data.synfer import iter_faces
    from .prompts import chat_messages, fer_question
    from .testing import build_tiny_unifer

    print(BANNER)
    out = Path(args.out)
    started = time.perf_counter()
    model_dir = build_tiny_unifer(out / "tiny-unifer", seed=args.seed)
    print(f"built the tiny model in {time.perf_counter() - started:.1f}s -> {model_dir}")

    processor = AutoProcessor.from_pretrained(model_dir)
    processor.tokenizer.padding_side = "left"
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    faces = list(iter_faces(1, seed=args.seed, size=224))
    candidates = sorted({emotion for _, emotion, _ in faces})
    question = fer_question(candidates)
    texts = [processor.apply_chat_template(chat_messages(None, question), add_generation_prompt=True,
                                           tokenize=False) for _ in faces]
    inputs = processor(text=texts, images=[image for _, _, image in faces], return_tensors="pt", padding=True)
    with torch.inference_mode():
        generated = model.generate(**inputs, max_new_tokens=args.max_new_tokens, do_sample=False)
    responses = processor.batch_decode(generated[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    print(f"\n{'true label':<11} {'parsed':<10} {'well formed':<11} response (untrained model)")
    for (_, emotion, _), response in zip(faces, responses):
        label = extract_label(response, candidates)
        print(f"{emotion:<11} {str(label):<10} {str(parse(response).well_formed):<11} {response[:60]!r}")
    print(f"\ndone in {time.perf_counter() - started:.1f}s. {BANNER}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("quickstart", help="offline end-to-end demo on SynFER faces (tiny model)")
    parser.add_argument("--out", default="quickstart_out", help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.set_defaults(handler=run)
