"""Stage 2 of UniFER post-training: GRPO with verifiable FER rewards, as a thin subclass of TRL's ``GRPOTrainer``.

What it adds to TRL:

* the rewards of :mod:`unifer.trainers.rewards` by name (``reward_funcs: [accuracy, format]``), weighted by TRL's
  ``reward_weights``; they log per-emotion accuracy and the format rate through TRL's metrics;
* faces are prepared like everywhere else in UniFER (:func:`unifer.images.prepare_image`) as the trainer reads
  them from the dataset, so generation and the rewards see what evaluation will;
* raw RLVR rows (``image_path``, ``problem``, ``solution``) are converted to TRL's conversational prompt shape by
  the data builder's converter (:mod:`unifer.data.cot_rlvr`), ``candidate_labels`` and ``source_solution``
  included; data of another shape (CoT rows, a benchmark) is refused with the columns expected and found;
* ``system_prompt`` puts a system turn before every prompt (default: none, as the official GRPO stage);
* a generation batch that ``num_generations`` does not divide is refused with the values that would work.

Everything else (vLLM colocate/server generation, loss types, KL, PEFT) is TRL's, set from the config
(:class:`~unifer.trainers.configs.UniFERGRPOConfig`).
Run it with ``unifer train grpo --config recipe.yaml`` or ``accelerate launch -m unifer.trainers.grpo --config …``.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

from datasets import Dataset, IterableDataset
from trl import GRPOTrainer

from unifer.trainers.common import (
    CheckpointWeightsMixin,
    UntruncatedTokenizerSaveMixin,
    as_rlvr_dataset,
    freeze_vision_tower,
    with_prepared_images,
    with_system_prompt,
)
from unifer.trainers.configs import UniFERGRPOConfig
from unifer.trainers.rewards import get_reward_funcs


def prepared_faces_batch(batch: dict[str, list], size: int | None) -> dict[str, list]:
    """A ``Dataset.with_transform`` batch (columns of values) whose faces went through :func:`with_prepared_images`."""
    rows = [with_prepared_images(dict(zip(batch, values)), size) for values in zip(*batch.values())]
    return {name: [row[name] for row in rows] for name in batch}


def with_prepared_faces(
    dataset: Dataset | IterableDataset | None, size: int | None
) -> Dataset | IterableDataset | None:
    """The dataset with every row's faces prepared as the trainer reads it (``with_transform``, or ``map`` on a
    stream): lazily, so no prepared copy of the dataset is written."""
    if dataset is None:
        return None
    if isinstance(dataset, IterableDataset):
        return dataset.map(with_prepared_images, fn_kwargs={"size": size})
    return dataset.with_transform(partial(prepared_faces_batch, size=size))


class UniFERGRPOTrainer(CheckpointWeightsMixin, UntruncatedTokenizerSaveMixin, GRPOTrainer):
    """[`~trl.GRPOTrainer`] for UniFER's RLVR stage; see the module docstring for what it adds."""

    _tag_names = ["trl", "grpo", "unifer"]

    def __init__(
        self,
        model,
        reward_funcs=None,
        args: UniFERGRPOConfig | None = None,
        train_dataset=None,
        eval_dataset=None,
        **kwargs,
    ):
        args = UniFERGRPOConfig() if args is None else args
        if not isinstance(args, UniFERGRPOConfig):
            raise TypeError(
                f"args must be a UniFERGRPOConfig (it carries reward_funcs and image_size), got {type(args).__name__}."
            )
        if reward_funcs is None:
            reward_funcs = get_reward_funcs(args.reward_funcs)

        def prepare(dataset: Any) -> Any:
            return with_prepared_faces(
                with_system_prompt(as_rlvr_dataset(dataset), "prompt", args.system_prompt), args.image_size
            )

        if isinstance(eval_dataset, dict):
            eval_dataset = {name: prepare(dataset) for name, dataset in eval_dataset.items()}
        else:
            eval_dataset = prepare(eval_dataset)
        super().__init__(
            model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=prepare(train_dataset),
            eval_dataset=eval_dataset,
            **kwargs,
        )
        if args.freeze_vision_tower:
            freeze_vision_tower(self.model)


if __name__ == "__main__":
    from unifer.trainers.train import cli_main

    sys.exit(cli_main(["grpo", *sys.argv[1:]]))
