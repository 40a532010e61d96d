"""``unifer lmms-eval-tasks``: print the FERBench task folder to pass as lmms-eval's ``--include_path``."""

from __future__ import annotations


def run(args) -> int:
    from unifer.lmms_eval_tasks import task_folder, write_task_folder

    if args.benchmark is None:
        if args.out or args.config:
            raise ValueError("--out and --config need --benchmark (the folder or Hub id the tasks should read).")
        print(task_folder())
        return 0
    if not args.out:
        raise ValueError("--benchmark needs --out: the folder to write the tasks to.")
    print(write_task_folder(args.benchmark, args.out, config=args.config).resolve())
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "lmms-eval-tasks",
        help="print the FERBench lmms-eval task folder (--include_path)",
        description="Print the folder of FERBench tasks for lmms-eval's --include_path. The shipped tasks read "
        "./ferbench; with --benchmark, write a copy that reads that folder or Hub dataset instead.",
    )
    parser.add_argument("--benchmark", help="FERBench-format folder or Hub dataset id the tasks should read")
    parser.add_argument("--out", help="where to write the tasks (with --benchmark)")
    parser.add_argument("--config", help="config the ferbench_folder task reads (default: the dataset's default)")
    parser.set_defaults(handler=run)
