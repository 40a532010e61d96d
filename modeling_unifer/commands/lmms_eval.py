"""``unifer lmms-eval-tasks``: print the FERBench task folder to pass as lmms-eval's ``--include_path``."""

from __future__ import annotations

from unifer.commands.parsing import UniferArgumentParser, command_parser
from unifer.configs import LmmsEvalTasksConfig


def run(config: LmmsEvalTasksConfig) -> int:
    from unifer.lmms_eval_tasks import model_args, task_folder, write_task_folder

    if config.model is not None:
        import torch

        print(model_args(config.model, cpu=not torch.cuda.is_available()))
    elif config.benchmark is None:
        print(task_folder())
    else:
        print(write_task_folder(config.benchmark, config.out, config=config.config).resolve())
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    return command_parser(
        subparsers,
        "lmms-eval-tasks",
        LmmsEvalTasksConfig,
        run,
        help="print the FERBench lmms-eval task folder (--include_path)",
        description="Print the folder of FERBench tasks for lmms-eval's --include_path. The shipped tasks read "
        "./ferbench; with --benchmark, write a copy that reads that folder or Hub dataset instead. With --model, "
        "print the --model_args that give lmms-eval's qwen2_5_vl wrapper that model's own pixel limits.",
    )
