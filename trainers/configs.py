"""Every configuration dataclass of UniFER's trainers, in one place (as TRL keeps its ``*Config`` classes).

* :class:`FERDataArguments`: where the training data comes from (``unifer train`` / the ``-m`` scripts);
* :class:`ImageSizeArguments` and :class:`FaceTrainingArguments`: what every UniFER stage adds to its base config;
* :class:`UniFERSFTConfig` (stage 1, :mod:`unifer.trainers.sft`), :class:`UniFERGRPOConfig` (stage 2,
  :mod:`unifer.trainers.grpo`) and :class:`VisionPretrainingConfig` (stage 0,
  :mod:`unifer.trainers.vision_pretraining`).

Each field carries its ``help`` in ``metadata``, so TRL's ``TrlParser`` turns it into a recipe key and a
``--flag`` with that help.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from transformers import TrainingArguments
from trl import GRPOConfig, SFTConfig

from unifer.images import DEFAULT_IMAGE_SIZE
from unifer.trainers.rewards import REWARD_FUNCS, get_reward_funcs

LOSS_ON = ("response", "all")


@dataclass
class FERDataArguments:
    """Where the training data comes from (the model path is ``ModelConfig.model_name_or_path``; the face size is
    the trainer config's ``image_size``)."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A Parquet/JSON(L) file, a folder of them, or a Hub dataset id: the CoT shape (messages, "
            "images) for sft, the RLVR shape (prompt, image, solution, candidate_labels) for grpo, "
            "or raw rows as released (image_path + question/response or problem/solution; images under "
            "images_root)."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Dataset configuration name, if any."})
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_test_split: str = field(default="test", metadata={"help": "Split to evaluate on (when eval is on)."})
    images_root: str | None = field(
        default=None,
        metadata={
            "help": "Folder that raw rows' image_path values are under (the released rows' /RAF-DB/... paths "
            "included), as for `unifer data build --images-root`. Unset: image_path is used as given."
        },
    )
    answer_filter: bool = field(
        default=True,
        metadata={
            "help": "Raw CoT rows only: refuse a response that names no single candidate in one <answer> block "
            "(as `unifer data build cot` rejects it). false keeps every row, as the official SFT did."
        },
    )


@dataclass
class ImageSizeArguments:
    r"""How faces are sized before the processor, in every UniFER training stage.

    Parameters:
        image_size (`int` or `None`, *optional*, defaults to `224`):
            Faces are resized to `image_size`×`image_size` before the processor, as at evaluation. `None` keeps
            the aspect ratio (the processor's pixel limits then apply).
    """

    image_size: int | None = field(
        default=DEFAULT_IMAGE_SIZE,
        metadata={"help": "Resize faces to image_size x image_size before the processor (None keeps the aspect)."},
    )


@dataclass
class FaceTrainingArguments(ImageSizeArguments):
    r"""What both post-training stages add to TRL's config: [`ImageSizeArguments`] and

    Parameters:
        freeze_vision_tower (`bool`, *optional*, defaults to `False`):
            Freeze the vision encoder (patch embedding and blocks); the merger that projects into the language
            model still trains.
        system_prompt (`str` or `None`, *optional*, defaults to `None`):
            The system turn put before every conversation that has none. `None`: no system turn, so the chat
            template adds its default (Qwen2.5-VL: "You are a helpful assistant."), as the official GRPO stage
            and the official evaluation do. `""`: an empty system turn, as the official SFT stage does.
    """

    freeze_vision_tower: bool = field(
        default=False,
        metadata={"help": "Freeze the vision encoder; its merger (the projection into the language model) trains."},
    )
    system_prompt: str | None = field(
        default=None,
        metadata={
            "help": "System turn added to conversations without one. null: none, so the chat template adds its "
            "default (as the official GRPO and evaluation); '': an empty system turn (as the official SFT)."
        },
    )


@dataclass
class UniFERSFTConfig(SFTConfig, FaceTrainingArguments):
    r"""[`~trl.SFTConfig`] for the UniFER CoT cold start, plus [`FaceTrainingArguments`] (`image_size`,
    `freeze_vision_tower`).

    Parameters:
        loss_on (`str`, *optional*, defaults to `"response"`):
            `"response"`: loss on the assistant response and its end-of-turn token only (system, prompt and image
            tokens masked). `"all"`: the official UniFER recipe, every token but padding and image placeholders.
    """

    loss_on: str = field(
        default="response",
        metadata={
            "help": "'response': loss on the assistant response only; 'all': every token but padding and "
            "image placeholders (the official UniFER recipe).",
            "choices": list(LOSS_ON),
        },
    )

    def __post_init__(self):
        if self.loss_on not in LOSS_ON:
            raise ValueError(f"loss_on={self.loss_on!r} is not supported; use one of {', '.join(LOSS_ON)}.")
        if self.loss_on == "all" and self.assistant_only_loss:
            raise ValueError("loss_on='all' trains on every token, which contradicts assistant_only_loss=True.")
        # The response-only part is FERCollator's: TRL's assistant mask maps every token's character offsets in
        # Python: 3.6 times the collation time of response_mask (docs/performance.md).
        self.assistant_only_loss = False
        super().__post_init__()


@dataclass
class UniFERGRPOConfig(GRPOConfig, FaceTrainingArguments):
    r"""[`~trl.GRPOConfig`] for UniFER's RLVR stage, plus [`FaceTrainingArguments`] (`image_size`,
    `freeze_vision_tower`).

    Parameters:
        reward_funcs (`list[str]`, *optional*, defaults to `["accuracy", "format"]`):
            Names from `unifer.trainers.rewards.REWARD_FUNCS`; weight them with `reward_weights`.
    """

    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format"],
        metadata={"help": f"Reward functions by name, from: {', '.join(REWARD_FUNCS)}."},
    )

    def __post_init__(self):
        get_reward_funcs(self.reward_funcs)  # fail on an unknown name now, not after the model has loaded
        try:
            super().__post_init__()
        except ValueError as err:
            # TRL derives the generation batch in this same method; its message names no value that would work.
            batch, generations = self.generation_batch_size, self.num_generations
            if batch and generations and batch % generations:
                raise ValueError(generation_batch_message(self)) from err
            raise


def generation_batch_message(args: GRPOConfig) -> str:
    """Why the generation batch cannot hold whole prompt groups, and the ``num_generations`` and
    ``generation_batch_size`` values that would work."""
    batch, generations = args.generation_batch_size, args.num_generations
    global_batch = args.per_device_train_batch_size * args.world_size
    valid_generations = [n for n in range(2, batch + 1) if batch % n == 0]
    step = math.lcm(generations, global_batch)
    return (
        f"The generation batch holds {batch} completions (generation_batch_size = per_device_train_batch_size "
        f"{args.per_device_train_batch_size} × {args.world_size} process(es) × steps_per_generation "
        f"{args.steps_per_generation or '?'}), which num_generations={generations} does "
        f"not divide: every prompt's completions must be in the same batch. Valid num_generations for this batch: "
        f"{', '.join(map(str, valid_generations)) or 'none (GRPO needs at least 2 completions per prompt)'}. Or keep "
        f"num_generations={generations} and set generation_batch_size to a multiple of {step} "
        f"(e.g. {step}, {2 * step}, {3 * step}), or make per_device_train_batch_size × processes × "
        f"gradient_accumulation_steps such a multiple."
    )


@dataclass
class VisionPretrainingConfig(TrainingArguments, ImageSizeArguments):
    r"""[`~transformers.TrainingArguments`] for stage 0, plus [`ImageSizeArguments`] (`image_size`: faces are
    sized as in the later stages) and

    Parameters:
        token_loss_weight (`float`, *optional*, defaults to `0.0`):
            Weight of the per-token term: the classifier applied to every merged token, its cross-entropy averaged
            over tokens. `0` trains on the max-pooled term only.
        token_loss_start (`int`, *optional*, defaults to `0`):
            Optimizer step from which the per-token term is added.
    """

    token_loss_weight: float = field(
        default=0.0, metadata={"help": "Weight of the classifier's loss on every merged token (0: max-pooled only)."}
    )
    token_loss_start: int = field(default=0, metadata={"help": "Step from which the per-token loss is added."})

    def __post_init__(self):
        if self.token_loss_weight < 0 or self.token_loss_start < 0:
            raise ValueError(
                f"token_loss_weight={self.token_loss_weight} and token_loss_start="
                f"{self.token_loss_start} must not be negative."
            )
        super().__post_init__()
