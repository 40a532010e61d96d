"""The training script of UniFER's two post-training stages, in TRL's script style (``trl/scripts/grpo.py``).

:func:`make_parser` builds the ``TrlParser`` that reads a recipe (``trainers/recipes/*.yaml``) and ``--key value``
overrides into three dataclasses: :class:`~unifer.trainers.configs.FERDataArguments`, the stage's config
(``UniFERSFTConfig`` / ``UniFERGRPOConfig``) and TRL's ``ModelConfig`` (model path, dtype, attention, LoRA);
:func:`main` trains one stage from them; :func:`cli_main` does both for ``unifer train sft|grpo`` and for
``python -m unifer.trainers.sft|grpo``, so the same entry point runs under ``accelerate launch``:
``accelerate launch --config_file trainers/accelerate/zero2.yaml -m unifer.trainers.sft --config …``.

The output folder ends up holding full weights and the processor (a LoRA run is merged; its adapter is kept in
``adapter/``), so ``unifer eval`` and ``from_pretrained`` read it directly.

Heavy imports stay inside the functions: ``unifer.commands.train`` imports :data:`STAGES` from here, and
``unifer --help`` must stay instant.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

STAGES = ("sft", "grpo")
# Single files are loaded with these ``datasets`` builders; folders and Hub ids are inferred by ``load_dataset``.
FILE_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json"}


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}.")


def make_parser(stage: str, subparsers=None):
    """The ``TrlParser`` of one stage: ``(FERDataArguments, UniFERSFTConfig | UniFERGRPOConfig, ModelConfig)``.
    With ``subparsers`` (from a ``TrlParser``), it is registered there as the ``stage`` subcommand."""
    from trl import ModelConfig, TrlParser

    from unifer.trainers.configs import FERDataArguments, UniFERGRPOConfig, UniFERSFTConfig

    _check_stage(stage)
    dataclass_types = (FERDataArguments, UniFERSFTConfig if stage == "sft" else UniFERGRPOConfig, ModelConfig)
    if subparsers is not None:
        return subparsers.add_parser(stage, help=f"run the {stage} stage", dataclass_types=dataclass_types)
    return TrlParser(dataclass_types, prog=f"unifer train {stage}")


def load_splits(script_args):
    """The dataset as a ``DatasetDict`` (a single file becomes its ``train`` split)."""
    from datasets import load_dataset

    if script_args.dataset_name is None:
        raise ValueError("no training data: set dataset_name in the recipe or pass --dataset_name PATH_OR_HUB_ID.")
    builder = FILE_BUILDERS.get(Path(script_args.dataset_name).suffix)
    if builder is not None:
        return load_dataset(builder, data_files={"train": script_args.dataset_name})
    return load_dataset(script_args.dataset_name, script_args.dataset_config)


def load_model(model_args, training_args):
    """The model, through ``AutoModelForImageTextToText`` so Qwen2.5-VL and UniFER checkpoints both load."""
    from accelerate import PartialState
    from transformers import AutoModelForImageTextToText
    from trl import get_quantization_config

    from unifer import modeling_unifer  # noqa: F401  (registers the UniFER classes with the Auto classes)

    if model_args.model_name_or_path is None:
        raise ValueError("no model: set model_name_or_path in the recipe or pass --model_name_or_path.")
    kwargs = {
        "revision": model_args.model_revision,
        "dtype": model_args.dtype,
        "attn_implementation": model_args.attn_implementation,
        "trust_remote_code": training_args.trust_remote_code,
        **(training_args.model_init_kwargs or {}),
    }
    training_args.model_init_kwargs = None  # consumed here; TRL would warn that it ignores them
    quantization_config = get_quantization_config(model_args)
    if quantization_config is not None:
        # Quantized weights are created on their GPU: one copy per process, on that process's device.
        kwargs.update(quantization_config=quantization_config, device_map={"": PartialState().local_process_index})
    elif training_args.world_size > 1:
        kwargs["device_map"] = None  # the trainer places (or shards) each replica; "auto" would spread one over GPUs
    else:
        # One process: straight onto the accelerator; on a CPU (use_cpu included) "auto" would still pick a GPU.
        kwargs.setdefault("device_map", None if PartialState().device.type in ("cpu", "mps") else "auto")
    return AutoModelForImageTextToText.from_pretrained(model_args.model_name_or_path, **kwargs)


def save_for_eval(trainer, output_dir: str) -> None:
    """Save full weights and the processor; a LoRA adapter is saved in ``adapter/`` and merged for the rest."""
    from accelerate.utils import is_peft_model

    # Trainer turns the KV cache off for training; the saved model is for generation.
    trainer.accelerator.unwrap_model(trainer.model).config.use_cache = True
    if not is_peft_model(trainer.model):
        trainer.save_model(output_dir)
        return
    trainer.save_model(os.path.join(output_dir, "adapter"))
    if trainer.accelerator.is_main_process:
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        merged.save_pretrained(output_dir)
        trainer.processing_class.save_pretrained(output_dir)


def main(stage: str, script_args, training_args, model_args) -> str:
    """Train one stage from parsed arguments (:func:`make_parser`); returns the output folder."""
    from trl import get_peft_config

    _check_stage(stage)
    if stage == "sft":
        from unifer.trainers.sft import UniFERSFTTrainer as trainer_class
    else:
        from unifer.trainers.grpo import UniFERGRPOTrainer as trainer_class

    splits = load_splits(script_args)
    eval_on = training_args.eval_strategy != "no"
    trainer = trainer_class(
        load_model(model_args, training_args),
        args=training_args,
        train_dataset=splits[script_args.dataset_train_split],
        eval_dataset=splits[script_args.dataset_test_split] if eval_on else None,
        peft_config=get_peft_config(model_args),
    )
    # "last" resumes from the newest checkpoint in output_dir; a path resumes from that checkpoint.
    resume = training_args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume == "last" else resume)
    save_for_eval(trainer, training_args.output_dir)
    trainer.accelerator.print(f"saved model and processor to {training_args.output_dir}")
    return training_args.output_dir


def cli_main(argv: Sequence[str]) -> int:
    """``cli_main(["sft", "--config", "recipe.yaml", ...])``: parse the recipe and overrides, then train."""
    stage, *rest = argv
    main(stage, *make_parser(stage).parse_args_and_config(rest))
    return 0
