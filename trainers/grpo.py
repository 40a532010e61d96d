"""Stage 2 of UniFER post-training: GRPO with verifiable FER rewards, as a thin subclass of TRL's ``GRPOTrainer``.

What it adds to TRL:

* the rewards of :mod:`unifer.trainers.rewards` by name (``reward_funcs: [accuracy, format]``), weighted by TRL's
  ``reward_weights``; they log per-emotion accuracy and the format rate through TRL's metrics;
* faces are prepared like everywhere else in UniFER (:func:`unifer.images.prepare_image`) before generation;
* raw RLVR rows (``image_path``, ``problem``, ``solution``) are converted to TRL's conversational prompt shape;
* a generation batch that ``num_generations`` does not divide is refused with the values that would work.

Everything else (vLLM colocate/server generation, loss types, KL, PEFT) is TRL's, set from the config.
Run it with ``unifer train grpo --config recipe.yaml`` or ``accelerate launch -m unifer.trainers.grpo --config …``.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset, IterableDataset
from trl import GRPOConfig, GRPOTrainer
from trl.data_utils import get_dataset_column_names

from ..answers import parse
from ..labels import normalize
from ..prompts import chat_messages
from .rewards import REWARD_FUNCS, get_reward_funcs
from .sft import FaceTrainingArguments, freeze_vision_tower, with_prepared_images

RAW_RLVR_COLUMNS = ("image_path", "problem")


@dataclass
class UniFERGRPOConfig(GRPOConfig, FaceTrainingArguments):
    r"""[`~trl.GRPOConfig`] for UniFER's RLVR stage, plus [`~unifer.trainers.sft.FaceTrainingArguments`]
    (`image_size`, `freeze_vision_tower`).

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


def rlvr_example(row: dict[str, Any]) -> dict[str, Any]:
    """A raw RLVR row (``image_path``, ``problem``, ``solution``) in TRL's conversational prompt shape. The
    solution may be tagged as released (``<answer>happy</answer>``) and becomes the canonical emotion; the image
    is loaded (and prepared) before generation."""
    answer = parse(row["solution"]).answer
    return {"prompt": chat_messages(None, row["problem"]), "image": row["image_path"],
            "solution": normalize(row["solution"] if answer is None else answer)}


def as_rlvr_dataset(dataset: Dataset | IterableDataset | None) -> Dataset | IterableDataset | None:
    """The dataset in the RLVR shape (``prompt``, ``image``, ``solution``, …), converting raw rows if needed.
    Without a ``candidate_labels`` column, rewards take the eight canonical emotions as candidates."""
    if dataset is None or "prompt" in get_dataset_column_names(dataset):
        return dataset
    return dataset.map(rlvr_example, remove_columns=list(RAW_RLVR_COLUMNS))


class UniFERGRPOTrainer(GRPOTrainer):
    """[`~trl.GRPOTrainer`] for UniFER's RLVR stage; see the module docstring for what it adds."""

    _tag_names = ["trl", "grpo", "unifer"]

    def __init__(self, model, reward_funcs=None, args: UniFERGRPOConfig | None = None, train_dataset=None,
                 eval_dataset=None, **kwargs):
        args = UniFERGRPOConfig() if args is None else args
        if not isinstance(args, UniFERGRPOConfig):
            raise TypeError(f"args must be a UniFERGRPOConfig (it carries reward_funcs and image_size), "
                            f"got {type(args).__name__}.")
        if reward_funcs is None:
            reward_funcs = get_reward_funcs(args.reward_funcs)
        if isinstance(eval_dataset, dict):
            eval_dataset = {name: as_rlvr_dataset(dataset) for name, dataset in eval_dataset.items()}
        else:
            eval_dataset = as_rlvr_dataset(eval_dataset)
        super().__init__(model, reward_funcs=reward_funcs, args=args, train_dataset=as_rlvr_dataset(train_dataset),
                         eval_dataset=eval_dataset, **kwargs)
        if args.freeze_vision_tower:
            freeze_vision_tower(self.model)

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        # Once per generation batch, so the policy sees faces exactly as evaluation will.
        return super()._generate_and_score_completions(
            [with_prepared_images(example, self.args.image_size) for example in inputs])


if __name__ == "__main__":
    from ..train_cli import main

    sys.exit(main(["grpo", *sys.argv[1:]]))
