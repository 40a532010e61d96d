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
from functools import partial
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, IterableDataset
from PIL import Image
from trl import SFTTrainer

from unifer.data.cot_rlvr import KINDS, training_example
from unifer.images import prepare_image
from unifer.trainers.configs import UniFERSFTConfig

END_OF_TURN = "<|im_end|>"
ASSISTANT_HEADER = "<|im_start|>assistant\n"  # Qwen2.5-VL's chat template opens every assistant turn with it
# Rows scanned for the longest prompt of a streamed dataset (a stream cannot be read to the end up front).
STREAM_SCAN_ROWS = 1000


def freeze_vision_tower(model) -> int:
    """Freeze the vision encoder's parameters (``…visual.*`` but not ``…visual.merger.*``); returns how many."""
    frozen = 0
    for name, param in model.named_parameters():
        if ".visual." in f".{name}" and ".merger." not in name:
            param.requires_grad_(False)
            frozen += param.numel()
    if not frozen:
        raise ValueError(
            f"freeze_vision_tower=True, but {type(model).__name__} has no vision tower parameters (named '…visual.…')."
        )
    return frozen


class CheckpointWeightsMixin:
    """Resumes with the checkpoint's weights. transformers 5 saves a Qwen2.5-VL checkpoint in the original key
    layout (``model.layers.*``, ``visual.*``) but ``Trainer`` loads it back with a plain ``load_state_dict``, which
    matches only ``lm_head``: every other weight silently stays as it was before the resume
    (huggingface/transformers#43701, open for transformers 5.24). This loads a full-weights checkpoint the way
    ``from_pretrained`` does, key conversion included, and refuses a partial match; DeepSpeed, FSDP and PEFT
    checkpoints keep ``Trainer``'s own loaders."""

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        from accelerate.utils import is_peft_model

        model = self.model if model is None else model
        folder = Path(resume_from_checkpoint)
        full_weights = (folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()
        if self.is_deepspeed_enabled or self.is_fsdp_enabled or is_peft_model(model) or not full_weights:
            super()._load_from_checkpoint(resume_from_checkpoint, model)
            return
        unwrapped = self.accelerator.unwrap_model(model)
        saved = type(unwrapped).from_pretrained(folder, dtype=unwrapped.dtype, device_map=None)
        unwrapped.load_state_dict(saved.state_dict(), strict=True)


def with_prepared_images(example: dict[str, Any], size: int | None) -> dict[str, Any]:
    """A copy of a dataset row whose ``image`` / ``images`` went through :func:`prepare_image`."""
    example = dict(example)
    if example.get("image") is not None:
        example["image"] = prepare_image(example["image"], size)
    if example.get("images") is not None:
        example["images"] = [prepare_image(image, size) for image in example["images"]]
    return example


def column_names(dataset: Dataset | IterableDataset) -> list[str]:
    """The dataset's columns; a stream whose features are unknown shows them in its first row."""
    return list(next(iter(dataset))) if dataset.column_names is None else dataset.column_names


@dataclass(frozen=True)
class DataShape:
    """A kind of rows UniFER's data comes in: the columns that identify it, and the command that takes it."""

    label: str
    columns: tuple[str, ...]
    taker: str


DATA_SHAPES: dict[str, DataShape] = {
    "cot": DataShape("CoT rows", ("messages", "images"), "unifer train sft"),
    "raw_cot": DataShape("raw CoT rows", ("image_path", "question", "response"), "unifer train sft"),
    "rlvr": DataShape("RLVR rows", ("prompt", "image", "solution"), "unifer train grpo"),
    "raw_rlvr": DataShape("raw RLVR rows", ("image_path", "problem", "solution"), "unifer train grpo"),
    "benchmark": DataShape("a benchmark", ("image", "label", "prompt"), "unifer eval"),
}
#: The shapes each stage trains on: its trainer shape, then the raw rows it converts.
STAGE_SHAPES = {"sft": ("cot", "raw_cot"), "grpo": ("rlvr", "raw_rlvr")}


def data_shape(dataset: Dataset | IterableDataset, stage: str) -> str:
    """Which of the stage's shapes (:data:`STAGE_SHAPES`) the dataset has; otherwise a ``ValueError`` naming the
    columns each needs, the columns found, and what the data looks like instead."""
    found = set(column_names(dataset))
    accepted = STAGE_SHAPES[stage]
    for name in accepted:
        if set(DATA_SHAPES[name].columns) <= found:
            return name
    expected = " or ".join(f"{DATA_SHAPES[name].label} ({', '.join(DATA_SHAPES[name].columns)})" for name in accepted)
    message = (
        f"unifer train {stage} needs {expected}, but the dataset's columns are: "
        f"{', '.join(column_names(dataset)) or 'none'}."
    )
    lookalike = next(
        (shape for name, shape in DATA_SHAPES.items() if name not in accepted and set(shape.columns) <= found), None
    )
    if lookalike is not None:
        message += f" These look like {lookalike.label}, which `{lookalike.taker}` takes."
    raise ValueError(message)


def as_cot_dataset(
    dataset: Dataset | IterableDataset | None, *, images_root: str | None = None, check_answers: bool = True
) -> Dataset | IterableDataset | None:
    """The dataset in the CoT shape (``messages``, ``images``), converting raw rows (``image_path``, ``question``,
    ``response``) as ``unifer data build cot`` does (:func:`unifer.data.cot_rlvr.training_example`, images under
    ``images_root``; ``check_answers=False`` keeps responses without a single parsed answer); a row that build
    would reject raises, and data of another shape is refused. The image stays a path until the collator
    prepares it."""
    if dataset is None or data_shape(dataset, "sft") == "cot":
        return dataset
    convert = partial(training_example, KINDS["cot"], images_root=images_root, check_answers=check_answers)
    return dataset.map(convert, remove_columns=column_names(dataset))


def with_system_turn(messages: list[dict[str, Any]], system_prompt: str | None) -> list[dict[str, Any]]:
    """``messages`` with a system turn holding ``system_prompt`` in front, unless it is ``None`` or the
    conversation already opens with one.

    >>> with_system_turn([{"role": "user", "content": "hi"}], "")[0]
    {'role': 'system', 'content': [{'type': 'text', 'text': ''}]}
    """
    if system_prompt is None or (messages and messages[0]["role"] == "system"):
        return messages
    return [{"role": "system", "content": [{"type": "text", "text": system_prompt}]}, *messages]


def with_system_prompt(
    dataset: Dataset | IterableDataset | None, column: str, system_prompt: str | None
) -> Dataset | IterableDataset | None:
    """The dataset whose conversations in ``column`` open with ``system_prompt`` (:func:`with_system_turn`)."""
    if dataset is None or system_prompt is None:
        return dataset
    return dataset.map(lambda row: {column: with_system_turn(row[column], system_prompt)})


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


class UniFERSFTTrainer(CheckpointWeightsMixin, SFTTrainer):
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
