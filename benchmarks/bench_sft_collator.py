"""SFT collation: UniFER's response mask against TRL's assistant-token mask, on the quickstart's CoT batches.

Both collate the same batches of SynFER CoT rows for the quickstart model (56 px faces, 49 image tokens):

* ``trl``: TRL's vision collator with ``assistant_only_loss=True`` and its Qwen2.5-VL training template (the
  processor maps every token's character offsets to the assistant spans, in Python), then the newline after
  ``<|im_end|>`` dropped — how ``UniFERSFTTrainer`` masked before;
* ``unifer``: ``UniFERSFTTrainer``'s collator — the plain template, the mask found in the token ids
  (``unifer.trainers.sft.response_mask``).

It checks that both give the very same batch (token ids, attention mask, labels, pixels), then times them interleaved (trl, unifer, trl, …) so that drifts
in machine load hit both alike, and prints the median seconds per batch and their ratio.

    HF_HUB_OFFLINE=1 python benchmarks/bench_sft_collator.py            # about a minute on 2 CPU cores
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def collators(root: Path, per_class: int):
    """The two collators, and CoT rows (``per_class`` faces per quickstart emotion)."""
    from datasets import load_dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl.chat_template_utils import get_training_chat_template
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from unifer.data.synfer_dataset import build_synfer
    from unifer.quickstart import Plan, build_model
    from unifer.trainers.common import with_prepared_images
    from unifer.trainers.configs import UniFERSFTConfig
    from unifer.trainers.sft import END_OF_TURN, UniFERSFTTrainer

    plan = Plan()
    model_path = build_model(root / "model", plan, seed=0)
    build_synfer(
        root / "synfer",
        n_per_class=per_class,
        test_per_class=1,
        size=plan.image_size,
        emotions=plan.emotions,
        num_proc=1,
    )
    cot = load_dataset(str(root / "synfer"), "cot", split="train")
    args = UniFERSFTConfig(
        output_dir=str(root / "sft"), image_size=plan.image_size, report_to="none", bf16=False, max_length=512
    )  # as trainers/recipes/sft_quickstart.yaml
    unifer = UniFERSFTTrainer(
        AutoModelForImageTextToText.from_pretrained(model_path), args=args, train_dataset=cot
    ).data_collator
    processor = AutoProcessor.from_pretrained(model_path)
    stock = DataCollatorForVisionLanguageModeling(
        processor, assistant_only_loss=True, max_length=512, chat_template=get_training_chat_template(processor)
    )
    end_of_turn = processor.tokenizer.convert_tokens_to_ids(END_OF_TURN)

    def trl(examples):
        collated = stock([with_prepared_images(example, plan.image_size) for example in examples])
        labels = collated["labels"]
        labels[:, 1:][collated["input_ids"][:, :-1] == end_of_turn] = -100
        return collated

    return {"trl": trl, "unifer": unifer}, list(cot)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32, help="rows per batch, as the quickstart's SFT")
    parser.add_argument("--rounds", type=int, default=10, help="timed batches per collator")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        runs, rows = collators(Path(tmp), per_class=-(-args.batch // 5))
        rows = rows[: args.batch]
        first = {name: collate([dict(row) for row in rows]) for name, collate in runs.items()}
        different = [
            key
            for key in ("input_ids", "attention_mask", "labels", "pixel_values", "image_grid_thw")
            if not torch.equal(first["trl"][key], first["unifer"][key])
        ]
        if different:
            print(f"the two collators' batches differ in {', '.join(different)}")
            return 1
        seconds = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, collate in runs.items():
                started = time.perf_counter()
                collate([dict(row) for row in rows])
                seconds[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    labelled = int((first["unifer"]["labels"] != -100).sum())
    print(
        f"identical batches (input ids, masks, labels: {labelled} labelled tokens, pixels); "
        f"{args.rounds} timed batches of {len(rows)} rows each"
    )
    for name, median in medians.items():
        print(f"{name:>7}: median {median * 1000:7.1f} ms per batch (fastest {min(seconds[name]) * 1000:.1f} ms)")
    print(f"ratio trl / unifer: {medians['trl'] / medians['unifer']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
