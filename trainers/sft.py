"""Stage 1 of UniFER post-training: the chain-of-thought cold start, as a thin subclass of TRL's ``SFTTrainer``.

What it adds to TRL:

* faces are prepared like everywhere else in UniFER (:func:`unifer.images.prepare_image`: RGB, ``image_size``²);
* ``loss_on="response"`` (default) trains on the assistant's response and its ``<|im_end|>`` only (not the newline
  the template adds after ``<|im_end|>``, which is never generated), masked from the token ids
  (:func:`response_mask`);
  ``loss_on="all"`` is the official recipe: every token but padding and image placeholders;
* raw CoT rows (``image_path``, ``question``, ``response``) are converted to TRL's conversational shape by the
  data builder's converter (:mod:`unifer.data.cot_rlvr`); data of another shape (RLVR rows, a benchmark) is
  refused with the columns expected and found;
* ``system_prompt`` puts a system turn before every conversation (``""``: the official SFT's empty one);
* a ``max_length`` that would truncate a prompt (and with it image tokens) is refused up front.

Its config, :class:`~unifer.trainers.configs.UniFERSFTConfig`, lives with the others in
:mod:`unifer.trainers.configs`.
Run it with ``unifer train sft --config recipe.yaml`` or ``accelerate launch -m unifer.trainers.sft --config …``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset, IterableDataset
from PIL import Image
from trl import SFTTrainer

from unifer.trainers.common import (
    CheckpointWeightsMixin,
    UntruncatedTokenizerSaveMixin,
    as_cot_dataset,
    freeze_vision_tower,
    with_prepared_images,
    with_system_prompt,
)
from unifer.trainers.configs import UniFERSFTConfig

END_OF_TURN = "<|im_end|>"
ASSISTANT_HEADER = "<|im_start|>assistant\n"  # Qwen2.5-VL's chat template opens every assistant turn with it
# Rows scanned for the longest prompt of a streamed dataset (a stream cannot be read to the end up front).
STREAM_SCAN_ROWS = 1000


def response_mask(input_ids: torch.Tensor, header_ids: list[int], end_of_turn_id: int) -> torch.Tensor:
    """``True`` on every assistant turn's tokens: from just after its header (``<|im_start|>assistant\\n``, as
    ``header_ids``) to its end-of-turn token, inclusive.

    A token is in a response when the last header ending at or before it ends after the last end-of-turn token
    before it. A response cut by truncation is in the mask up to the end of the sequence.

    >>> response_mask(torch.tensor([[7, 1, 2, 3, 9, 7, 5, 2, 4, 4, 9, 3]]), header_ids=[7, 5], end_of_turn_id=9)
    tensor([[False, False, False, False, False, False, False,  True,  True,  True,  True, False]])
    """
    width, length = len(header_ids), input_ids.shape[1]
    positions = torch.arange(length).expand_as(input_ids)
    header_end = torch.zeros_like(input_ids, dtype=torch.bool)
    if length > width:
        windows = input_ids.unfold(1, width, 1)[:, : length - width]
        header_end[:, width:] = (windows == torch.tensor(header_ids)).all(-1)
    last_start = torch.where(header_end, positions, -1).cummax(1).values
    last_end = torch.where(input_ids == end_of_turn_id, positions, -1).cummax(1).values
    last_end_before = torch.cat([torch.full_like(last_end[:, :1], -1), last_end[:, :-1]], dim=1)
    return last_start > last_end_before


@dataclass
class FERCollator:
    """Wraps TRL's vision collator: prepares every face, then removes the labels nothing should learn."""

    collator: Callable[[list[dict[str, Any]]], dict[str, Any]]
    image_size: int | None
    placeholder_ids: list[int]  # image/video pad tokens: their embeddings are replaced by vision features
    # For response-only loss: the assistant header's token ids and the end-of-turn token id (see response_mask).
    response_markers: tuple[list[int], int] | None = None

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator([with_prepared_images(example, self.image_size) for example in examples])
        input_ids, labels = batch["input_ids"], batch["labels"]
        labels[torch.isin(input_ids, torch.tensor(self.placeholder_ids))] = -100
        if self.response_markers is not None:
            labels[~response_mask(input_ids, *self.response_markers)] = -100
        return batch


class UniFERSFTTrainer(CheckpointWeightsMixin, UntruncatedTokenizerSaveMixin, SFTTrainer):
    """[`~trl.SFTTrainer`] for UniFER's CoT cold start; see the module docstring for what it adds."""

    _tag_names = ["trl", "sft", "unifer"]

    def __init__(self, model, args: UniFERSFTConfig | None = None, train_dataset=None, eval_dataset=None, **kwargs):
        args = UniFERSFTConfig() if args is None else args
        if not isinstance(args, UniFERSFTConfig):
            raise TypeError(
                f"args must be a UniFERSFTConfig (it carries loss_on and image_size), got {type(args).__name__}."
            )

        def prepare(dataset: Any) -> Any:
            return with_system_prompt(as_cot_dataset(dataset), "messages", args.system_prompt)

        if isinstance(eval_dataset, dict):
            eval_dataset = {name: prepare(dataset) for name, dataset in eval_dataset.items()}
        else:
            eval_dataset = prepare(eval_dataset)
        super().__init__(model, args=args, train_dataset=prepare(train_dataset), eval_dataset=eval_dataset, **kwargs)
        if args.freeze_vision_tower:
            freeze_vision_tower(self.model)
        processor = self.processing_class
        placeholders = [getattr(processor, f"{kind}_token_id", None) for kind in ("image", "video")]
        tokenizer = processor.tokenizer
        markers = (
            tokenizer(ASSISTANT_HEADER, add_special_tokens=False)["input_ids"],
            tokenizer.convert_tokens_to_ids(END_OF_TURN),
        )
        self.data_collator = FERCollator(
            self.data_collator,
            args.image_size,
            [i for i in placeholders if i is not None],
            markers if args.loss_on == "response" else None,
        )
        self._check_max_length(self.train_dataset)

    def _check_max_length(self, dataset: Dataset | IterableDataset) -> None:
        """Refuse a ``max_length`` that truncation would cut a prompt with: truncation keeps the start, so the
        system turn, the image tokens and the question must all fit, plus at least one response token."""
        if self.args.max_length is None or self.args.image_size is None:
            return  # no truncation, or image token counts that vary per face
        needed, image_end, per_image = prompt_token_counts(dataset, self.processing_class, self.args.image_size)
        if self.args.max_length <= needed:
            cut = "its image tokens" if self.args.max_length < image_end else "its question"
            raise ValueError(
                f"max_length={self.args.max_length} would truncate the longest prompt ({needed} tokens, "
                f"{per_image} image tokens per {self.args.image_size}×{self.args.image_size} face) and cut {cut}: "
                f"truncation keeps the start of each sequence. Set max_length to at least {needed + 1} (the prompt "
                f"plus one response token), or to None to disable truncation."
            )


def prompt_token_counts(dataset: Dataset | IterableDataset, processor, image_size: int) -> tuple[int, int, int]:
    """Tokens of the longest prompt with its faces at ``image_size``, tokens up to the end of its last image, and
    image tokens per face. Only text is read: every face has the same size, so one blank face gives the count."""
    blank = Image.new("RGB", (image_size, image_size))
    image_token = processor.image_token
    per_image = int(
        (
            processor(text=[image_token], images=[blank], return_tensors="pt")["input_ids"] == processor.image_token_id
        ).sum()
    )

    def tokens(text: str) -> int:
        # Each image placeholder in the text is one token; the processor expands it to ``per_image``.
        ids = processor.tokenizer(text, add_special_tokens=False)["input_ids"]
        return len(ids) + text.count(image_token) * (per_image - 1)

    rows = dataset.select_columns(["messages"])
    if isinstance(rows, IterableDataset):
        rows = itertools.islice(rows, STREAM_SCAN_ROWS)
    prompts = {repr(prompt): prompt for prompt in (_prompt_messages(row["messages"]) for row in rows)}
    longest = max(
        (
            processor.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            for prompt in prompts.values()
        ),
        key=tokens,
    )
    image_end = tokens(longest[: longest.rindex(image_token) + len(image_token)]) if image_token in longest else 0
    return tokens(longest), image_end, per_image


def _prompt_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation up to (without) its final assistant turn."""
    return messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages


if __name__ == "__main__":
    from unifer.trainers.train import cli_main

    sys.exit(cli_main(["sft", *sys.argv[1:]]))
