"""What both post-training stages share: the pieces :mod:`unifer.trainers.sft` and :mod:`unifer.trainers.grpo`
build on, so that neither stage depends on the other.

* :func:`freeze_vision_tower` (``freeze_vision_tower: true`` in either recipe);
* :class:`CheckpointWeightsMixin`: resuming with the checkpoint's weights;
* :class:`UntruncatedTokenizerSaveMixin`: saved folders without the trainer's last truncation and padding;
* :func:`with_prepared_images`: faces prepared as everywhere else in UniFER (:func:`unifer.images.prepare_image`);
* :func:`with_system_turn` / :func:`with_system_prompt`: the recipes' ``system_prompt``;
* :data:`DATA_SHAPES`, :data:`STAGE_SHAPES`, :func:`data_shape`, :func:`column_names`: which kind of rows a dataset
  holds, and the error that names the right command for data of another kind; :func:`as_cot_dataset` and
  :func:`as_rlvr_dataset` convert raw rows to each stage's shape as the data builder does
  (:mod:`unifer.data.cot_rlvr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from datasets import Dataset, IterableDataset

from unifer.data.cot_rlvr import KINDS, training_example
from unifer.images import prepare_image

RLVR = KINDS["rlvr"]
RAW_RLVR_COLUMNS = ("image_path", *RLVR.fields)


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


class UntruncatedTokenizerSaveMixin:
    """Saves the tokenizer without the truncation and padding its last call set. A fast tokenizer keeps both in its
    backend (SFT's ``max_length`` among them), ``save_pretrained`` writes them into ``tokenizer.json``, and whoever
    loads the folder gets them back as defaults (``max_length``): every padded processor call then warns
    "`max_length` is ignored when `padding`=`True`", and the next stage's ``tokenizer_config.json`` holds
    ``max_length``. Both are per-call settings of the trainer, not part of the model; the next call sets them
    again."""

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            backend.no_truncation()
            backend.no_padding()
        super().save_model(output_dir, _internal_call)


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


def as_rlvr_dataset(
    dataset: Dataset | IterableDataset | None, *, images_root: str | None = None
) -> Dataset | IterableDataset | None:
    """The dataset in the RLVR shape (``prompt``, ``image``, ``solution``, ``candidate_labels``,
    ``source_solution``), converting raw rows (``image_path``, ``problem``, ``solution``) as ``unifer data build
    rlvr`` does (:func:`unifer.data.cot_rlvr.training_example`, images under ``images_root``); a row that build
    would reject raises, and data of another shape is refused. The image stays a path until the face is prepared;
    other columns are kept for custom rewards."""
    if dataset is None or data_shape(dataset, "grpo") == "rlvr":
        return dataset
    convert = partial(training_example, RLVR, images_root=images_root)
    return dataset.map(convert, remove_columns=list(RAW_RLVR_COLUMNS))


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
