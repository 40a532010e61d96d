"""The options of the core ``unifer`` commands, one dataclass each (open-r1's ``configs.py`` style): the command line
is parsed into them by ``HfArgumentParser`` (``--batch-size`` and ``--batch_size`` both work; ``--help`` shows
``metadata["help"]`` and the default), and the library takes them as they are (``evaluate_model(EvalConfig(...))``).

Each dataclass checks its values in ``__post_init__``, so a bad value is refused, naming the option, before
anything loads, whether it came from the command line or from Python. A field with
``metadata={"positional": True}`` is a positional argument on the command line.

This module stays light (no torch): ``unifer --help`` builds every command's parser from it.
"""

import typing
from dataclasses import dataclass, field, fields
from typing import Literal

from unifer import PUBLISHED_MODEL
from unifer.faces import DEFAULT_MARGIN, DEFAULT_MAX_FACES
from unifer.images import DEFAULT_IMAGE_SIZE
from unifer.prompts import REASONING_MAX_NEW_TOKENS
from unifer.video import DEFAULT_MAX_FRAMES, DEFAULT_MAX_SECONDS

#: The openai engine's defaults (:class:`unifer.openai_engine.OpenAIEngine`), here so that ``--help`` shows them
#: without importing the engine (and torch).
OPENAI_CONCURRENCY, OPENAI_REQUEST_TIMEOUT, OPENAI_MAX_RETRIES = 8, 120.0, 5


def option_name(name: str) -> str:
    """The command-line spelling of field ``name``: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def check_options(
    config,
    at_least: dict[str, float] | None = None,
    positive: typing.Sequence[str] = (),
    fractions: typing.Sequence[str] = (),
) -> None:
    """Refuse impossible values of ``config`` in one ``ValueError`` naming each option: numbers below their bound in
    ``at_least`` (``{"batch_size": 1}``), numbers not above 0 in ``positive`` (seconds, rates), numbers outside
    (0, 1] in ``fractions`` (shares, similarities; None passes all three), and ``Literal`` fields outside their values (argparse checks those on the command line; this checks them from
    Python too). Every config of the CLI, core and data alike, checks its bounds here.

    Example (``EvalConfig.__post_init__`` calls it):
        >>> EvalConfig(model="m", benchmark="b", output_dir="o", batch_size=0)
        Traceback (most recent call last):
        ValueError: --batch-size must be at least 1 (got 0).
    """
    # (field, what it must be, whether a value is allowed)
    bounds = [(name, f"at least {low}", lambda value, low=low: value >= low) for name, low in (at_least or {}).items()]
    bounds += [(name, "positive", lambda value: value > 0) for name in positive]
    bounds += [(name, "in (0, 1]", lambda value: 0 < value <= 1) for name in fractions]
    problems = [
        f"{option_name(name)} must be {rule} (got {getattr(config, name)})"
        for name, rule, allowed in bounds
        if getattr(config, name) is not None and not allowed(getattr(config, name))
    ]
    hints = typing.get_type_hints(type(config))
    for item in fields(config):
        choices = typing.get_args(hints[item.name]) if typing.get_origin(hints[item.name]) is Literal else ()
        value = getattr(config, item.name)
        if choices and value not in choices:
            problems.append(f"{option_name(item.name)} must be one of {', '.join(choices)} (got {value!r})")
    if problems:
        raise ValueError("; ".join(problems) + ".")


@dataclass(kw_only=True)
class EvalConfig:
    """``unifer eval``: evaluate a model on a FERBench-format benchmark, resumably (:mod:`unifer.evaluation`)."""

    model: str = field(metadata={"help": "model folder or Hub id (--backend openai: the served model's name)"})
    benchmark: str = field(metadata={"help": "benchmark folder (unifer data build …) or Hub id"})
    output_dir: str = field(
        metadata={"help": "where predictions, run.json, metrics and report go; a rerun resumes there"}
    )
    config: str | None = field(
        default=None, metadata={"help": "benchmark config (default: the one the benchmark's card marks default)"}
    )
    subsets: list[str] | None = field(default=None, metadata={"help": "only these subsets"})
    limit: int | None = field(
        default=None, metadata={"help": "N items per subset, a seeded sample spread over the classes"}
    )
    backend: Literal["transformers", "vllm", "openai"] = field(
        default="transformers",
        metadata={"help": "inference engine; openai: any OpenAI-compatible server (docs/serving.md)"},
    )
    batch_size: int = field(default=8, metadata={"help": "requests per generate call"})
    max_new_tokens: int = field(default=REASONING_MAX_NEW_TOKENS, metadata={"help": "generation budget per face"})
    dtype: Literal["auto", "bfloat16", "float32"] = field(
        default="auto",
        metadata={"help": "weights dtype: auto is bfloat16 on a GPU, float32 on a CPU (the official evaluation's)"},
    )
    image_size: int | None = field(
        default=DEFAULT_IMAGE_SIZE, metadata={"help": "faces resized to this square side; 0 keeps the original size"}
    )
    reasoning: bool = field(
        default=True, metadata={"help": "think before answering; --no-reasoning asks for the answer only (fast)"}
    )
    probabilities: bool = field(default=False, metadata={"help": "also score every candidate label"})
    extraction: Literal["strict", "paper"] = field(
        default="strict", metadata={"help": "answer extraction: strict, or the official evaluator's (paper)"}
    )
    bootstrap: int = field(default=1000, metadata={"help": "resamples for the 95%% CI (0: none)"})
    overwrite: bool = field(
        default=False, metadata={"help": "discard every earlier prediction in --output-dir and start over"}
    )
    tensor_parallel_size: int | None = field(
        default=None, metadata={"help": "--backend vllm: GPUs holding one copy of the model"}
    )
    gpu_memory_utilization: float | None = field(
        default=None, metadata={"help": "--backend vllm: share of each GPU's memory vLLM may take"}
    )
    max_model_len: int | None = field(
        default=None, metadata={"help": "--backend vllm: longest prompt + response, in tokens"}
    )
    enforce_eager: bool = field(
        default=False,
        metadata={"help": "--backend vllm: no graph compilation or capture (a faster start, slower steps)"},
    )
    base_url: str | None = field(
        default=None,
        metadata={"help": "--backend openai: the server's …/v1 URL (default: $OPENAI_BASE_URL, else OpenAI)"},
    )
    api_key_env: str | None = field(
        default=None,
        metadata={"help": "--backend openai: environment variable holding the API key (default: OPENAI_API_KEY)"},
    )
    concurrency: int | None = field(
        default=None, metadata={"help": f"--backend openai: requests in flight (default: {OPENAI_CONCURRENCY})"}
    )
    request_timeout: float | None = field(
        default=None,
        metadata={
            "help": f"--backend openai: seconds per attempt before a retry (default: {OPENAI_REQUEST_TIMEOUT:g})"
        },
    )
    max_retries: int | None = field(
        default=None,
        metadata={
            "help": f"--backend openai: retries per request on 429, 5xx, timeouts (the openai SDK's; default: "
            f"{OPENAI_MAX_RETRIES})"
        },
    )
    num_threads: int | None = field(
        default=None,
        metadata={
            "help": "--backend transformers on a CPU: torch threads (default: $OMP_NUM_THREADS, else half the CPUs)"
        },
    )

    def __post_init__(self):
        if self.image_size == 0:
            self.image_size = None  # one spelling of "the original size" in run.json
        check_options(
            self,
            {
                "limit": 1,
                "batch_size": 1,
                "max_new_tokens": 1,
                "image_size": 0,
                "bootstrap": 0,
                "tensor_parallel_size": 1,
                "max_model_len": 1,
                "concurrency": 1,
                "max_retries": 0,
                "num_threads": 1,
            },
            positive=["request_timeout"],
            fractions=["gpu_memory_utilization"],
        )
        for backend, options in (
            ("vllm", self.vllm_options()),
            ("openai", self.openai_options()),
            ("transformers", {"num_threads": self.num_threads}),
        ):
            given = [name for name, value in options.items() if value is not None]
            if given and self.backend != backend:
                raise ValueError(f"{'/'.join(map(option_name, given))} need --backend {backend}.")
        if self.backend == "openai" and (self.probabilities or self.dtype != "auto"):
            raise ValueError(
                "--probabilities and --dtype need a local engine (--backend transformers or vllm): a server returns "
                "text, in the dtype it was started with."
            )

    def vllm_options(self) -> dict[str, int | float | None]:
        """The vLLM engine's own options (None: vLLM's default)."""
        return {
            "tensor_parallel_size": self.tensor_parallel_size,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "max_model_len": self.max_model_len,
            "enforce_eager": self.enforce_eager or None,
        }

    def openai_options(self) -> dict[str, str | int | float | None]:
        """The openai engine's own options (None: its default)."""
        return {
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "concurrency": self.concurrency,
            "request_timeout": self.request_timeout,
            "max_retries": self.max_retries,
        }


@dataclass(kw_only=True)
class ScoreConfig:
    """``unifer score``: score predictions (run folders, predictions.jsonl, official ``*_results.json``)."""

    predictions: list[str] = field(
        metadata={
            "positional": True,
            "metavar": "PREDICTIONS",
            "help": "`unifer eval` output folders, predictions.jsonl files and/or official *_results.json files "
            "(an item held by two of them is refused)",
        }
    )
    extraction: Literal["strict", "paper"] = field(
        default="strict", metadata={"help": "answer extraction: strict, or the official evaluator's (paper)"}
    )
    output_dir: str | None = field(default=None, metadata={"help": "write metrics.json, report.md and confusion PNGs"})
    bootstrap: int = field(default=1000, metadata={"help": "resamples for the 95%% CI (0: none)"})
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})

    def __post_init__(self):
        check_options(self, {"bootstrap": 0})


@dataclass(kw_only=True)
class CompareConfig:
    """``unifer compare``: two evaluations of the same items, paired (:func:`unifer.metrics.scoring.compare_paired`)."""

    run_a: str = field(
        metadata={"positional": True, "metavar": "RUN_A", "help": "the first `unifer eval` output folder"}
    )
    run_b: str = field(
        metadata={"positional": True, "metavar": "RUN_B", "help": "the second, on the same items (B - A is reported)"}
    )
    resamples: int = field(default=10_000, metadata={"help": "paired-bootstrap resamples for the 95%% interval"})
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})

    def __post_init__(self):
        check_options(self, {"resamples": 1})


@dataclass(kw_only=True)
class InfoConfig:
    """``unifer info``: versions, compute device and which optional backends are importable."""

    json: bool = field(default=False, metadata={"help": "print as JSON"})


@dataclass(kw_only=True)
class QuickstartConfig:
    """``unifer quickstart``: the offline pipeline on SynFER (:mod:`unifer.quickstart`)."""

    out: str = field(default="quickstart_out", metadata={"help": "output folder"})
    seed: int = field(default=0, metadata={"help": "seed of the data, the training and the bootstrap"})
    minutes_budget: float = field(default=10.0, metadata={"help": "warn when the run takes longer"})
    fast: bool = field(default=False, metadata={"help": "a shortened run (CI): fewer faces and steps"})


@dataclass(kw_only=True)
class LmmsEvalTasksConfig:
    """``unifer lmms-eval-tasks``: the FERBench task folder for lmms-eval's ``--include_path``
    (:mod:`unifer.lmms_eval_tasks`)."""

    benchmark: str | None = field(
        default=None, metadata={"help": "FERBench-format folder or Hub dataset id the tasks should read"}
    )
    out: str | None = field(default=None, metadata={"help": "where to write the tasks (with --benchmark)"})
    config: str | None = field(
        default=None, metadata={"help": "config the ferbench_folder task reads (default: the dataset's default)"}
    )
    model: str | None = field(
        default=None,
        metadata={"help": "print lmms-eval's --model_args for this model (its own pixel limits) instead"},
    )

    def __post_init__(self):
        if self.model is not None and (self.benchmark or self.out or self.config):
            raise ValueError("--model prints the --model_args alone: give --benchmark/--out/--config in another call.")
        if self.benchmark is None and (self.out or self.config):
            raise ValueError("--out and --config need --benchmark (the folder or Hub id the tasks should read).")
        if self.benchmark is not None and not self.out:
            raise ValueError("--benchmark needs --out: the folder to write the tasks to.")


@dataclass(kw_only=True)
class CardConfig:
    """``unifer card``: a Hub model card with FERBench results, stating only given facts (:mod:`unifer.model_card`)."""

    model: str = field(metadata={"help": "model folder"})
    metrics: str | None = field(
        default=None,
        metadata={"help": "metrics.json written by unifer eval (its run.json beside it names the benchmark)"},
    )
    name: str | None = field(
        default=None,
        metadata={
            "help": "title; when a Hub id (OWNER/NAME), also the id in the usage snippet (default: folder name)"
        },
    )
    base_model: str | None = field(
        default=None,
        metadata={
            "help": "the Hub id of the model it was trained from (default: the base_model of the folder's card)"
        },
    )
    benchmark: str | None = field(
        default=None, metadata={"help": "benchmark folder or Hub id, when no run.json beside --metrics names it"}
    )
    benchmark_id: str | None = field(
        default=None,
        metadata={"help": "the benchmark's Hub id (default: where --push-to-hub put the benchmark folder)"},
    )
    train_dataset: list[str] = field(
        default_factory=list,
        metadata={
            "action": "extend",  # `--train-dataset A --train-dataset B` and `--train-dataset A B` alike
            "metavar": "FOLDER_OR_ID",
            "help": "training datasets: a folder (its Hub id is where --push-to-hub put it) or a Hub id",
        },
    )
    license: str = field(default="apache-2.0", metadata={"help": "the model's license"})
    synthetic: bool = field(
        default=False, metadata={"help": "mark the model as trained or evaluated on synthetic data"}
    )
    out: str | None = field(default=None, metadata={"help": "output path (default: MODEL/README.md)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing card"})


@dataclass(kw_only=True)
class SpaceConfig:
    """``unifer space``: serve the Gradio demo locally (the same app as the Hugging Face Space)."""

    model: str | None = field(
        default=None,
        metadata={
            "help": f"model folder or Hub id (default: $UNIFER_MODEL, else {PUBLISHED_MODEL}). A named model, or any "
            "model on a GPU, that cannot load stops start-up; only the CPU demo with no model named falls back to "
            "the quickstart or tiny model, with a notice"
        },
    )
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int | None = field(default=None, metadata={"help": "port (default: the first free one from 7860)"})
    share: bool = field(default=False, metadata={"help": "also open a temporary public gradio.live link"})
    max_new_tokens: int | None = field(
        default=None,
        metadata={"help": f"generation budget (default: $UNIFER_MAX_NEW_TOKENS, else {REASONING_MAX_NEW_TOKENS})"},
    )

    def __post_init__(self):
        check_options(self, {"port": 1, "max_new_tokens": 1})


@dataclass(kw_only=True)
class ExportMetricConfig:
    """``unifer export metric DIR``: the fer_accuracy ``evaluate`` metric, its scoring code bundled."""

    dir: str = field(
        metadata={
            "positional": True,
            "help": "output folder; name it fer_accuracy (evaluate looks for DIR/<name of DIR>.py)",
        }
    )
    overwrite: bool = field(default=False, metadata={"help": "replace files in DIR that differ"})


@dataclass(kw_only=True)
class ExportSpaceConfig:
    """``unifer export space DIR``: the Gradio Space's folder (app.py, README.md, requirements.txt)."""

    dir: str = field(metadata={"positional": True, "help": "output folder"})
    unifer_requirement: str = field(
        metadata={
            "metavar": "REQUIREMENT",
            "help": 'how the Space installs unifer, e.g. "unifer @ git+https://github.com/OWNER/unifer.git@v0.1.0"',
        }
    )
    overwrite: bool = field(default=False, metadata={"help": "replace files in DIR that differ"})


@dataclass(kw_only=True)
class PredictConfig:
    """``unifer predict INPUT... --out FILE``: photos, folders (recursive) and videos to one row per face, resumably
    (:func:`unifer.predict_files.predict_files`)."""

    inputs: list[str] = field(
        metadata={"positional": True, "metavar": "INPUT", "help": "photos, videos and folders (searched recursively)"}
    )
    out: str = field(
        metadata={
            "help": "FILE.jsonl (the ledger itself) or FILE.csv (written at the end from the ledger FILE.csv.jsonl); "
            "a rerun resumes"
        }
    )
    model: str = field(metadata={"help": "model folder or Hub id"})
    candidate_labels: list[str] | None = field(
        default=None, metadata={"help": "default: the model config's candidate_labels, else the 8 canonical emotions"}
    )
    detect: bool = field(
        default=True,
        metadata={"help": "find faces first; --no-detect reads each image or frame whole (inputs already face crops)"},
    )
    no_face: Literal["row", "whole_image"] = field(
        default="row",
        metadata={"help": "an image or frame with no face: a row saying so, or the whole image read as one face"},
    )
    fps: float = field(default=1.0, metadata={"help": "video frames read per second of video"})
    max_seconds: float = field(default=DEFAULT_MAX_SECONDS, metadata={"help": "refuse longer videos"})
    max_frames: int = field(default=DEFAULT_MAX_FRAMES, metadata={"help": "refuse videos giving more frames at --fps"})
    max_faces: int = field(default=DEFAULT_MAX_FACES, metadata={"help": "refuse images or frames with more faces"})
    margin: float = field(
        default=DEFAULT_MARGIN,
        metadata={"help": "face box grown by this share of its size on every side, then squared"},
    )
    backend: Literal["transformers", "vllm"] = field(default="transformers", metadata={"help": "inference engine"})
    dtype: Literal["auto", "bfloat16", "float32"] = field(
        default="auto", metadata={"help": "weights dtype (transformers): auto is bfloat16 on a GPU, float32 on a CPU"}
    )
    max_new_tokens: int = field(default=REASONING_MAX_NEW_TOKENS, metadata={"help": "generation budget per face"})
    reasoning: bool = field(
        default=True, metadata={"help": "think before answering; --no-reasoning asks for the answer only (fast)"}
    )
    probabilities: bool = field(default=True, metadata={"help": "score every candidate label (the score column)"})
    image_size: int = field(default=DEFAULT_IMAGE_SIZE, metadata={"help": "face crops resized to this square side"})

    def __post_init__(self):
        check_options(
            self,
            {"max_frames": 1, "max_faces": 1, "max_new_tokens": 1, "image_size": 28, "margin": 0},
            positive=["fps", "max_seconds"],
        )
        if not self.out.endswith((".jsonl", ".csv")):
            raise ValueError(f"--out must name a .jsonl or .csv file (got {self.out!r}).")
