"""FERBench as lmms-eval tasks (``ferbench/``): the folder to pass as lmms-eval's ``--include_path``.

The shipped tasks read the benchmark from ``./ferbench`` (where ``unifer data build ferbench --out ferbench`` puts
it); :func:`write_task_folder` writes a copy that reads another folder or Hub dataset. Tasks: ``ferbench`` (group of
``ferbench_rafdb``, ``ferbench_ferplus``, ``ferbench_affectnet``, ``ferbench_sfew``) and ``ferbench_folder`` (every
item of any FERBench-format folder's default config, SynFER included). See docs/evaluation.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

TASK_FOLDER = Path(__file__).parent / "ferbench"
TEMPLATE = "_default_template_yaml"
FOLDER_TASK = "ferbench_folder.yaml"
_DATASET_PATH = re.compile(r"^dataset_path: .*$", re.MULTILINE)


def task_folder() -> Path:
    """The shipped task folder (``--include_path``); its tasks read ``./ferbench``."""
    return TASK_FOLDER


def task_files() -> list[Path]:
    """What lmms-eval reads from the folder: the YAMLs, the shared template and ``utils.py``."""
    return sorted([*TASK_FOLDER.glob("*.yaml"), TASK_FOLDER / TEMPLATE, TASK_FOLDER / "utils.py"])


def model_args(model: str, *, cpu: bool = False) -> str:
    """lmms-eval's ``--model_args`` for the ``qwen2_5_vl`` wrapper and ``model`` (a folder, made absolute, or a Hub
    id): the model's own pixel limits (:func:`unifer.inference.pixel_limits`, from its ``processor_config.json`` or
    ``preprocessor_config.json``), so faces reach it at the size ``unifer eval`` gives them; the wrapper's own
    defaults (``min_pixels=200704``) would upscale every face. ``cpu`` adds ``device=cpu,device_map=cpu``.

    Example: ``pretrained=/abs/quickstart/final-model,min_pixels=64,max_pixels=3136``."""
    from transformers import AutoImageProcessor

    from unifer.inference import pixel_limits

    local = Path(model).expanduser()
    pretrained = str(local.resolve()) if local.exists() else model
    if "," in pretrained or "=" in pretrained:
        raise ValueError(
            f"{pretrained}: lmms-eval splits --model_args at ',' and '=': move the model to a path without them."
        )
    minimum, maximum = pixel_limits(AutoImageProcessor.from_pretrained(pretrained))
    args = f"pretrained={pretrained},min_pixels={minimum},max_pixels={maximum}"
    return args + (",device=cpu,device_map=cpu" if cpu else "")


def write_task_folder(benchmark: str, out_dir: str | Path, *, config: str | None = None) -> Path:
    """Copy the tasks to ``out_dir``, reading ``benchmark`` (a local folder, made absolute, or a Hub dataset id);
    ``config`` picks the config ``ferbench_folder`` reads (default: the dataset's default one)."""
    local = Path(benchmark).expanduser()
    if local.exists():
        if not (local / "README.md").is_file():
            raise ValueError(
                f"{benchmark} has no README.md: give a FERBench-format folder (unifer data build ferbench|synfer, "
                "unifer data ingest) or a Hub dataset id."
            )
        benchmark = str(local.resolve())
    elif benchmark.count("/") != 1 or benchmark.startswith((".", "/", "~")):
        raise ValueError(f"{benchmark} is neither a folder nor a Hub dataset id (owner/name).")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for source in task_files():
        text = source.read_text(encoding="utf-8")
        if source.name == TEMPLATE:
            # JSON strings are YAML strings: a path with spaces or colons stays one value.
            text = _DATASET_PATH.sub(lambda _: f"dataset_path: {json.dumps(benchmark)}", text, count=1)
        if source.name == FOLDER_TASK and config:
            text += f"dataset_name: {json.dumps(config)}\n"
        (out / source.name).write_text(text, encoding="utf-8")
    return out
