"""``unifer train sft|grpo --config recipe.yaml [--key value …]``: UniFER's two post-training stages.

The recipe (``trainers/recipes/*.yaml``) and the overrides are parsed by TRL's ``TrlParser`` into three
dataclasses: :class:`FERDataArguments`, the stage's config (``UniFERSFTConfig`` / ``UniFERGRPOConfig``) and TRL's
``ModelConfig`` (model path, dtype, attention, LoRA). The same entry point runs under ``accelerate launch``:
``accelerate launch --config_file trainers/accelerate/zero2.yaml -m unifer.trainers.sft --config …``.

The output folder ends up holding full weights and the processor (a LoRA run is merged; its adapter is kept in
``adapter/``), so ``unifer eval`` and ``from_pretrained`` read it directly.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

STAGES = ("sft", "grpo")
# Single files are loaded with these ``datasets`` builders; folders and Hub ids are inferred by ``load_dataset``.
FILE_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json"}


@dataclass
class FERDataArguments:
    """Where the training data comes from (the model path is ``ModelConfig.model_name_or_path``; the face size is
    the trainer config's ``image_size``)."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "A Parquet/JSON(L) file, a folder of them, or a Hub dataset id: the CoT shape (messages, "
                          "images) for sft, the RLVR shape (prompt, image, solution, candidate_labels) for grpo, "
                          "or raw rows (image_path + question/response or problem/solution)."},
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Dataset configuration name, if any."})
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on."})
    dataset_test_split: str = field(default="test", metadata={"help": "Split to evaluate on (when eval is on)."})


def parser_for(stage: str):
    from trl import ModelConfig, TrlParser

    if stage == "sft":
        from .trainers.sft import UniFERSFTConfig as config_class
    else:
        from .trainers.grpo import UniFERGRPOConfig as config_class
    return TrlParser((FERDataArguments, config_class, ModelConfig), prog=f"unifer train {stage}")


def load_splits(data_args: FERDataArguments):
    """The dataset as a ``DatasetDict`` (a single file becomes its ``train`` split)."""
    from datasets import load_dataset

    if data_args.dataset_name is None:
        raise ValueError("no training data: set dataset_name in the recipe or pass --dataset_name PATH_OR_HUB_ID.")
    builder = FILE_BUILDERS.get(Path(data_args.dataset_name).suffix)
    if builder is not None:
        return load_dataset(builder, data_files={"train": data_args.dataset_name})
    return load_dataset(data_args.dataset_name, data_args.dataset_config)


def load_model(model_args, training_args):
    """The model, through ``AutoModelForImageTextToText`` so Qwen2.5-VL and UniFER checkpoints both load."""
    from accelerate import PartialState
    from transformers import AutoModelForImageTextToText
    from trl import get_quantization_config
    from trl.trainer.utils import create_model_from_path

    from . import modeling_unifer  # noqa: F401  (registers the UniFER classes with the Auto classes)

    if model_args.model_name_or_path is None:
        raise ValueError("no model: set model_name_or_path in the recipe or pass --model_name_or_path.")
    kwargs = {"revision": model_args.model_revision, "dtype": model_args.dtype,
              "attn_implementation": model_args.attn_implementation,
              "trust_remote_code": training_args.trust_remote_code, **(training_args.model_init_kwargs or {})}
    training_args.model_init_kwargs = None  # consumed here; TRL would warn that it ignores them
    quantization_config = get_quantization_config(model_args)
    if quantization_config is not None:
        # Quantized weights are created on their GPU: one copy per process, on that process's device.
        kwargs.update(quantization_config=quantization_config, device_map={"": PartialState().local_process_index})
    elif training_args.world_size > 1:
        kwargs["device_map"] = None  # the trainer places (or shards) each replica; "auto" would spread one over GPUs
    return create_model_from_path(model_args.model_name_or_path, architecture=AutoModelForImageTextToText, **kwargs)


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


def train(stage: str, data_args: FERDataArguments, training_args, model_args) -> str:
    """Run one stage end to end; returns the output folder."""
    from trl import get_peft_config

    if stage == "sft":
        from .trainers.sft import UniFERSFTTrainer as trainer_class
    else:
        from .trainers.grpo import UniFERGRPOTrainer as trainer_class

    splits = load_splits(data_args)
    eval_on = training_args.eval_strategy != "no"
    trainer = trainer_class(
        load_model(model_args, training_args),
        args=training_args,
        train_dataset=splits[data_args.dataset_train_split],
        eval_dataset=splits[data_args.dataset_test_split] if eval_on else None,
        peft_config=get_peft_config(model_args),
    )
    # "last" resumes from the newest checkpoint in output_dir; a path resumes from that checkpoint.
    resume = training_args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume == "last" else resume)
    save_for_eval(trainer, training_args.output_dir)
    trainer.accelerator.print(f"saved model and processor to {training_args.output_dir}")
    return training_args.output_dir


def main(argv: Sequence[str]) -> int:
    """``main(["sft", "--config", "recipe.yaml", ...])``: parse the recipe and overrides, then train."""
    stage, *rest = argv
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}.")
    data_args, training_args, model_args = parser_for(stage).parse_args_and_config(rest)
    train(stage, data_args, training_args, model_args)
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="post-train a model: sft (CoT cold start) or grpo (RL with FER rewards)",
        description="Run a training stage from a recipe: unifer train sft --config trainers/recipes/"
                    "sft_qwen2_5_vl_7b.yaml [--key value ...]. `unifer train sft --help` lists every option.",
    )
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("options", nargs=argparse.REMAINDER,
                        help="--config RECIPE.yaml and overrides of any recipe key (--learning_rate 1e-5 ...)")
    parser.set_defaults(handler=lambda args: main([args.stage, *args.options]))
