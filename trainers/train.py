"""The training script of UniFER's two post-training stages, in TRL's script style (``trl/scripts/grpo.py``).

:func:`make_parser` builds the ``TrlParser`` that reads a recipe (``trainers/recipes/*.yaml``) and ``--key value``
overrides into three dataclasses: :class:`~unifer.trainers.configs.FERDataArguments`, the stage's config
(``UniFERSFTConfig`` / ``UniFERGRPOConfig``) and TRL's ``ModelConfig`` (model path, dtype, attention, LoRA);
:func:`main` trains one stage from them; :func:`cli_main` does both for ``unifer train sft|grpo`` and for
``python -m unifer.trainers.sft|grpo``, so the same entry point runs under ``accelerate launch``:
``accelerate launch --config_file trainers/accelerate/zero2.yaml -m unifer.trainers.sft --config …``.

The output folder ends up holding full weights and the processor (a LoRA run is merged; its adapter is kept in
``adapter/``), so ``unifer eval`` and ``from_pretrained`` read it directly.

A recipe is named by its path or, for the recipes shipped in the package (``trainers/recipes/``), by its name:
``--config sft_tiny_cpu`` (``.yaml`` optional); :func:`recipe_path` resolves it.

Heavy imports stay inside the functions: ``unifer.commands.train`` imports :data:`STAGES` from here, and
``unifer --help`` must stay instant.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

STAGES = ("sft", "grpo")
#: The recipes shipped with the package (``trainers/recipes/*.yaml``).
RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
#: Where the model and the data are named, for the messages of :mod:`unifer.sources`.
MODEL_OPTION = "the recipe's model_name_or_path, or --model_name_or_path"
DATA_OPTION = "the recipe's dataset_name, or --dataset_name"


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}.")


def recipe_names(stage: str | None = None) -> list[str]:
    """The shipped recipes' names (file names without ``.yaml``) of the stages ``unifer train`` runs, those of one
    stage when ``stage`` is given (the quickstart's stage 0 recipe, ``vision_quickstart``, is not one)."""
    names = sorted(path.stem for path in RECIPES_DIR.glob("*.yaml"))
    return [name for name in names if name.startswith(tuple(f"{s}_" for s in ([stage] if stage else STAGES)))]


def recipe_path(name: str) -> Path:
    """The recipe file ``name`` stands for: an existing file, else the shipped recipe of that name (``.yaml``
    optional; a path such as ``trainers/recipes/x.yaml`` outside a checkout finds the shipped ``x``)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    shipped = RECIPES_DIR / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"no such recipe: {name} (not a file, and not one of {', '.join(recipe_names())}).")


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
    """The dataset as a ``DatasetDict`` (a single file becomes its ``train`` split). A name that is neither on disk
    nor on the Hub raises ``FileNotFoundError`` ("no such folder: …")."""
    from datasets import load_dataset

    from unifer.sources import DATA_FILE_BUILDERS, check_source, missing_source_error

    name = script_args.dataset_name
    if name is None:
        raise ValueError("no training data: set dataset_name in the recipe or pass --dataset_name PATH_OR_HUB_ID.")
    local = Path(name).expanduser()
    builder = DATA_FILE_BUILDERS.get(local.suffix)
    if local.exists():
        if builder is not None:
            return load_dataset(builder, data_files={"train": str(local)})
        return load_dataset(str(local), script_args.dataset_config)
    check_source(name, "dataset", DATA_OPTION)
    try:
        return load_dataset(name, script_args.dataset_config)
    except (ConnectionError, FileNotFoundError) as err:  # no such dataset on the Hub, or the Hub unreachable
        raise missing_source_error(name, DATA_OPTION, f"not found on the Hub either: {err}") from None


def in_stage_shape(dataset, script_args, stage: str):
    """The dataset in the stage's shape: raw rows converted with ``images_root`` (and, for SFT, the answer filter);
    data of the wrong kind refused with the columns expected and found (:func:`unifer.trainers.common.as_cot_dataset`,
    :func:`unifer.trainers.common.as_rlvr_dataset`)."""
    from unifer.trainers.common import as_cot_dataset, as_rlvr_dataset

    if stage == "sft":
        return as_cot_dataset(dataset, images_root=script_args.images_root, check_answers=script_args.answer_filter)
    return as_rlvr_dataset(dataset, images_root=script_args.images_root)


def split(splits, name: str, script_args, stage: str):
    """Split ``name`` in the stage's shape. A missing split is refused after the data's kind is checked, so a
    benchmark (a test split only) is named as such."""
    from unifer.trainers.common import data_shape

    if name not in splits:
        data_shape(next(iter(splits.values())), stage)
        raise ValueError(
            f"{script_args.dataset_name} has no {name!r} split (it has: {', '.join(splits)}); pass "
            "--dataset_train_split / --dataset_test_split NAME."
        )
    return in_stage_shape(splits[name], script_args, stage)


def load_model(model_args, training_args):
    """The model, through ``AutoModelForImageTextToText`` so Qwen2.5-VL and other checkpoints load; a UniFER folder
    (:func:`unifer.modeling_unifer.is_unifer_folder`) through ``UniFERForConditionalGeneration``, so the folders
    training saves carry the remote code their ``auto_map`` names."""
    from accelerate import PartialState
    from transformers import AutoConfig, AutoModelForImageTextToText
    from trl import get_quantization_config

    from unifer.modeling_unifer import UniFERForConditionalGeneration, is_unifer_folder

    check_model_path(model_args.model_name_or_path)
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
    name = model_args.model_name_or_path
    try:
        config = AutoConfig.from_pretrained(
            name, revision=kwargs["revision"], trust_remote_code=kwargs["trust_remote_code"]
        )
        model_class = UniFERForConditionalGeneration if is_unifer_folder(config) else AutoModelForImageTextToText
        return model_class.from_pretrained(name, **kwargs)
    except OSError as err:
        if Path(name).expanduser().exists():
            raise
        from unifer.sources import missing_source_error

        raise missing_source_error(name, MODEL_OPTION, f"not found on the Hub either: {err}") from None


def check_model_path(name: str | None) -> None:
    """Refuse a model that is neither a local folder nor a reachable Hub id (:func:`unifer.sources.check_source`),
    before any data or weights load."""
    from unifer.sources import check_source

    if name is None:
        raise ValueError("no model: set model_name_or_path in the recipe or pass --model_name_or_path.")
    check_source(name, "model", MODEL_OPTION)


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


def main(stage: str, script_args, training_args, model_args, callbacks=None) -> str:
    """Train one stage from parsed arguments (:func:`make_parser`), with optional extra ``TrainerCallback``s;
    returns the output folder."""
    from trl import get_peft_config

    _check_stage(stage)
    if stage == "sft":
        from unifer.trainers.sft import UniFERSFTTrainer as trainer_class
    else:
        from unifer.trainers.grpo import UniFERGRPOTrainer as trainer_class

        if not script_args.answer_filter:
            raise ValueError("answer_filter applies to raw CoT rows (sft) only; GRPO rows carry no response.")

    check_model_path(model_args.model_name_or_path)
    splits = load_splits(script_args)
    train_dataset = split(splits, script_args.dataset_train_split, script_args, stage)
    eval_on = training_args.eval_strategy != "no"
    eval_dataset = split(splits, script_args.dataset_test_split, script_args, stage) if eval_on else None
    trainer = trainer_class(
        load_model(model_args, training_args),
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        peft_config=get_peft_config(model_args),
        callbacks=callbacks,
    )
    # "last" resumes from the newest checkpoint in output_dir; a path resumes from that checkpoint.
    resume = training_args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume == "last" else resume)
    save_for_eval(trainer, training_args.output_dir)
    trainer.accelerator.print(f"saved model and processor to {training_args.output_dir}")
    return training_args.output_dir


def with_recipe(stage: str, args: Sequence[str]) -> list[str]:
    """``args`` with ``--config NAME`` resolved to the recipe's file (:func:`recipe_path`); without ``--config``,
    a ``ValueError`` that lists the stage's recipes (``--help`` passes through)."""
    args = list(args)
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            return [*args[: i + 1], str(recipe_path(args[i + 1])), *args[i + 2 :]]
        if arg.startswith("--config="):
            return [*args[:i], f"--config={recipe_path(arg.split('=', 1)[1])}", *args[i + 1 :]]
    if {"-h", "--help"} & set(args):
        return args
    raise ValueError(
        f"unifer train {stage} needs a recipe: --config NAME_OR_PATH, then any overrides (--learning_rate 1e-5 ...). "
        f"Recipes: {', '.join(recipe_names(stage))} (trainers/recipes/, docs/training.md)."
    )


def cli_main(argv: Sequence[str], callbacks=None) -> int:
    """``cli_main(["sft", "--config", "recipe.yaml", ...])``: parse the recipe and overrides, then train (with
    optional extra ``TrainerCallback``s)."""
    stage, *rest = argv
    _check_stage(stage)
    main(stage, *make_parser(stage).parse_args_and_config(with_recipe(stage, rest)), callbacks=callbacks)
    return 0
