"""``unifer card``: a Hub model card (README.md) for a model folder, stating only the facts it is given.

Where each fact comes from (nothing is assumed; what is not known is not claimed):

* results: ``metrics.json`` written by ``unifer eval`` (extraction mode, items scored, per-subset figures);
* the benchmark: ``run.json`` beside it (the ``--benchmark`` eval was given and its config), or ``benchmark=``;
  its name, size and whether it is synthetic from the benchmark folder's own card (``pretty_name``,
  ``dataset_info``, ``synthetic``); its Hub id from where ``--push-to-hub`` put it
  (:func:`unifer.data.publish.pushed_repo`), or ``benchmark_id=``;
* the base model: ``base_model=``, else the folder's existing card (TRL's trainers write one with ``base_model``);
* the training data: ``train_datasets=`` (Hub ids or folders, resolved like the benchmark).

The usage snippet is the one documented way to get a predicting model from any Qwen2.5-VL or UniFER checkpoint:
``UniFERForConditionalGeneration.from_pretrained`` (see :mod:`unifer.modeling_unifer`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unifer.evaluation import RUN_FILE

logger = logging.getLogger(__name__)

#: The base model of UniFER-7B and of the 7B recipes (``--base-model`` for cards of models trained from it).
DEFAULT_BASE_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


@dataclass(frozen=True)
class DatasetFacts:
    """What is known about a dataset a model was trained or evaluated on."""

    source: str  # as given: a Hub id or a local folder
    hub_id: str | None  # where it is on the Hub, when known
    name: str  # its card's pretty_name, else its id or folder name
    synthetic: bool | None  # from its card; None when its card could not be read
    config: str | None = None
    rows: int | None = None  # rows of the config's test split, per its card
    configs: tuple[str, ...] | None = None  # its card's configs; None when its card could not be read

    @property
    def reference(self) -> str:
        """The Hub id, else the local folder's name."""
        return self.hub_id or Path(self.source).name

    def markdown(self) -> str:
        where = (
            f"[`{self.hub_id}`](https://huggingface.co/datasets/{self.hub_id})"
            if self.hub_id
            else f"the local folder `{self.source}`, not on the Hub"
        )
        return f"{self.name}: {where}{'; **synthetic data**' if self.synthetic else ''}"


def _card_data(folder: Path) -> dict[str, Any] | None:
    from huggingface_hub import DatasetCard

    readme = folder / "README.md"
    return DatasetCard.load(readme).data.to_dict() if readme.is_file() else None


def _split_rows(card: dict[str, Any], config: str | None, split: str) -> int | None:
    infos = card.get("dataset_info") or []
    for info in [infos] if isinstance(infos, dict) else infos:
        if config is None or info.get("config_name", config) == config:
            for entry in info.get("splits", []):
                if entry.get("name") == split:
                    return entry.get("num_examples")
    return None


def dataset_facts(source: str, *, hub_id: str | None = None, config: str | None = None) -> DatasetFacts:
    """Facts about a dataset given as a local folder (read from its card and push record) or a Hub id."""
    from unifer.data.publish import pushed_repo

    folder = Path(source)
    if not folder.is_dir():
        if not _HUB_ID.fullmatch(source):
            raise ValueError(f"no such folder: {source} (and not a Hub id: give a dataset folder or OWNER/NAME).")
        return DatasetFacts(source, hub_id or source, source, None, config)
    card = _card_data(folder) or {}
    return DatasetFacts(
        source=source,
        hub_id=hub_id or pushed_repo(folder),
        name=card.get("pretty_name") or folder.name,
        synthetic=bool(card.get("synthetic")),
        config=config,
        rows=_split_rows(card, config, "test"),
        configs=tuple(c["config_name"] for c in card.get("configs") or []),
    )


def read_run(metrics_path: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``metrics.json`` and the ``run.json`` beside it (None when absent: a score of files, not of a run); a file
    that is not what ``unifer eval`` writes is refused by name."""
    metrics_path = Path(metrics_path)
    if not metrics_path.is_file():
        raise FileNotFoundError(f"no such file: {metrics_path} (give the metrics.json that unifer eval wrote).")
    metrics = _read_json(metrics_path, "the metrics.json that unifer eval or unifer score writes")
    if "extraction" not in metrics or not ({"accuracy", "overall"} & metrics.keys()):
        raise ValueError(
            f"{metrics_path} is not a metrics.json of unifer eval or unifer score (it has no extraction and "
            "accuracy): give the metrics.json from an evaluation's --output-dir."
        )
    run_path = metrics_path.parent / RUN_FILE
    run = _read_json(run_path, f"the {RUN_FILE} unifer eval writes") if run_path.is_file() else None
    return metrics, run


def _read_json(path: Path, expected: str) -> dict[str, Any]:
    """A JSON object from ``path``, or a one-line error naming the file and what it should have been."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path}: not JSON ({err}); expected {expected}.") from None
    if not isinstance(data, dict):
        raise ValueError(f"cannot read {path}: a JSON {type(data).__name__}, not an object; expected {expected}.")
    return data


def check_same_model(model_dir: Path, run: dict[str, Any], metrics_path: Path) -> None:
    """Refuse results that ``run.json`` says came from another model than ``model_dir``: both fingerprints named."""
    from unifer.evaluation import model_fingerprint

    recorded = run.get("model_fingerprint")
    if recorded is None:
        return  # a run.json from before fingerprints: nothing to check against
    here = model_fingerprint(str(model_dir))
    if here != recorded:
        raise ValueError(
            f"{metrics_path} holds results of another model: {metrics_path.parent / RUN_FILE} records "
            f"{run.get('model')!r} with model fingerprint {recorded}, while {model_dir} has fingerprint {here}. "
            f"Evaluate this model (unifer eval --model {model_dir}) and give that run's metrics.json."
        )


def _existing_base_model(model_dir: Path) -> str | None:
    from huggingface_hub import ModelCard

    readme = model_dir / "README.md"
    if not readme.is_file():
        return None
    base = ModelCard.load(readme).data.to_dict().get("base_model")
    return base[0] if isinstance(base, list) and len(base) == 1 else base if isinstance(base, str) else None


def _result_dataset(benchmark: DatasetFacts, group: str) -> tuple[str | None, str]:
    """(config, name) of one results row: the pooled figures are the run's config; a subset is a config of its own
    where the benchmark has one by its name (FERBench's layout), else a part of the run's config."""
    if group == "overall" or (benchmark.configs is not None and group not in benchmark.configs):
        config = benchmark.config
        part = "" if group == "overall" else f", subset {group}"
        return config, f"{benchmark.name} ({config or 'default'}{part})"
    return group, f"{benchmark.name} ({group})"


def eval_results(metrics: dict[str, Any], benchmark: DatasetFacts) -> list:
    """One accuracy, UAR and macro-F1 entry for the pooled figures and per subset (when there are several)."""
    from huggingface_hub import EvalResult

    from unifer.metrics.reports import summary_rows

    rows = summary_rows(metrics)
    results = []
    for group, figures in rows if len(rows) > 2 else rows[-1:]:  # one subset: its figures are the pooled ones
        config, name = _result_dataset(benchmark, group)
        for metric, key in (("accuracy", "accuracy"), ("uar", "uar"), ("f1", "macro_f1")):
            if figures.get(key) is not None:
                results.append(
                    EvalResult(
                        task_type="image-text-to-text",
                        task_name="Facial expression recognition",
                        dataset_type=benchmark.reference,
                        dataset_name=name,
                        dataset_config=config,
                        dataset_split="test",
                        metric_type=metric,
                        metric_name=f"{metric} ({metrics['extraction']})",
                        metric_value=round(float(figures[key]), 4),
                    )
                )
    return results


def _results_table(metrics: dict[str, Any]) -> str:
    from unifer.metrics.reports import summary_rows

    rows = ["| subset | items | accuracy | UAR | macro-F1 |", "|---|---|---|---|---|"]
    for name, f in summary_rows(metrics):
        rows.append(
            f"| {name} | {f.get('n', f.get('valid'))} | {f['accuracy']:.4f} | {f.get('uar', float('nan')):.4f}"
            f" | {f.get('macro_f1', float('nan')):.4f} |"
        )
    return "\n".join(rows)


def _results_section(metrics: dict[str, Any], benchmark: DatasetFacts | None) -> str:
    items = metrics.get("n", metrics.get("total"))
    if benchmark is None:
        where = "a benchmark not named to `unifer card`"
    else:
        config = f"config `{benchmark.config}`, " if benchmark.config else ""
        of = f" of its {benchmark.rows:,}" if benchmark.rows and items is not None and items < benchmark.rows else ""
        where = f"{benchmark.markdown()} ({config}split `test`): {items:,} items scored{of}"
    return f"## Results ({metrics['extraction']} extraction)\n\nOn {where}.\n\n{_results_table(metrics)}\n"


def _synthetic_note(benchmark: DatasetFacts | None, train: Sequence[DatasetFacts], flagged: bool) -> str:
    parts = []
    if any(d.synthetic for d in train):
        parts.append("trained on synthetic data")
    if benchmark is not None and benchmark.synthetic:
        parts.append("evaluated on synthetic data")
    if flagged and not parts:
        parts.append("marked as trained or evaluated on synthetic data by whoever wrote this card")
    if not parts:
        return ""
    return (
        f"\n> **Synthetic data.** This model was {' and '.join(parts)} (such as SynFER's procedurally drawn cartoon "
        "faces): its figures say nothing about facial expression recognition on real photos.\n"
    )


def usage_snippet(model_id: str) -> str:
    """The card's usage code: the one documented way from a checkpoint to predictions."""
    return f"""```python
from unifer.modeling_unifer import UniFERForConditionalGeneration

model = UniFERForConditionalGeneration.from_pretrained("{model_id}")
[prediction] = model.predict("face.jpg")  # candidates: the config's, else the 8 canonical emotions
print(prediction.label, prediction.probabilities)
```"""


def build_card(
    model_dir: str | Path,
    metrics: dict[str, Any] | str | Path | None = None,
    *,
    model_name: str | None = None,
    base_model: str | None = None,
    benchmark: str | None = None,
    benchmark_id: str | None = None,
    train_datasets: Sequence[str] = (),
    license: str = "apache-2.0",
    synthetic: bool = False,
    for_hub: bool = True,
):
    """A ``huggingface_hub.ModelCard`` for a model folder (see the module docstring for where facts come from).

    ``metrics``: the path of ``unifer eval``'s ``metrics.json`` (its ``run.json`` beside it names the benchmark),
    or the loaded dict. ``benchmark``: the benchmark (folder or Hub id) when no ``run.json`` names it;
    ``benchmark_id``: its Hub id, when not where ``--push-to-hub`` put it. ``train_datasets``: folders or Hub ids.
    ``synthetic``: mark the model as trained or evaluated on synthetic data (the data's own cards also do).
    ``model_name``: the title, and the id in the usage snippet when it is a Hub id (else the folder path is).
    ``for_hub``: the card is for publishing, so a benchmark not known to be on the Hub is warned about; ``False`` for a
    model that stays local (the quickstart's), whose card names the local folder and needs no Hub id.
    """
    from huggingface_hub import ModelCard, ModelCardData

    from unifer.sources import missing_source_error

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise missing_source_error(str(model_dir), "--model", "the model folder the card is written for")
    metrics, facts = _results_and_benchmark(model_dir, metrics, benchmark, benchmark_id, for_hub)
    train = [dataset_facts(d) for d in train_datasets]
    base_model = base_model or _existing_base_model(model_dir)
    name = model_name or model_dir.name
    data = ModelCardData(
        language="en",
        license=license,
        library_name="transformers",
        pipeline_tag="image-text-to-text",
        base_model=base_model,
        datasets=[d.hub_id for d in train if d.hub_id] or None,
        tags=["facial-expression-recognition", "unifer", "qwen2.5-vl"],
        model_name=name,
        eval_results=eval_results(metrics, facts) if metrics and facts else None,
    )
    base = f"[`{base_model}`](https://huggingface.co/{base_model})" if base_model else "not given to `unifer card`"
    trained_on = "; ".join(d.markdown() for d in train) or "not given to `unifer card`"
    results = _results_section(metrics, facts) if metrics else ""
    body = f"""
# {name}
{_synthetic_note(facts, train, synthetic)}
A facial expression recognition model in the UniFER format (Qwen2.5-VL architecture): it reasons about a face in
`<think></think>` and answers with one of the candidate labels in `<answer></answer>`.

## Training

* Base model: {base}
* Training data: {trained_on}

{results}
## Usage

With the `unifer` package installed (it is not on PyPI: install it from its repository); this works on any
Qwen2.5-VL or UniFER checkpoint:

{usage_snippet(name if _HUB_ID.fullmatch(name) else str(model_dir))}
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def _results_and_benchmark(
    model_dir: Path,
    metrics: dict[str, Any] | str | Path | None,
    benchmark: str | None,
    benchmark_id: str | None,
    for_hub: bool,
) -> tuple[dict[str, Any] | None, Any]:
    """The metrics (read from ``metrics.json``, refused when its ``run.json`` names another model) and the facts
    about the benchmark they were measured on (None where no benchmark is known)."""
    run = None
    if isinstance(metrics, (str, Path)):
        metrics_path = Path(metrics)
        metrics, run = read_run(metrics_path)
        if run is not None:
            check_same_model(model_dir, run, metrics_path)
    source = benchmark or (run or {}).get("benchmark")
    facts = None
    if metrics and source:
        facts = dataset_facts(source, hub_id=benchmark_id, config=(run or {}).get("benchmark_config"))
    elif metrics:
        logger.warning("No run.json beside metrics.json and no benchmark given: the card cannot name the benchmark.")
    if for_hub and facts is not None and facts.hub_id is None:
        logger.warning("The benchmark %s is not known to be on the Hub: pass --benchmark-id to name it.", source)
    return metrics, facts


def save_card(card, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``card`` to ``path``; an existing file is replaced only with ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ValueError(f"{path} already exists; pass --overwrite to replace it (or --out to write elsewhere).")
    card.save(path)
    return path
