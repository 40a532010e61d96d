"""``unifer card``: a Hub model card (README.md) with FERBench results from ``unifer eval``'s metrics.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEFAULT_BASE_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
DATASETS = ["unifer/ferbench"]


def eval_results(metrics: dict[str, Any], dataset: str = DATASETS[0]) -> list:
    """One accuracy and one UAR/macro-F1 entry per FERBench subset and for the pooled overall figure."""
    from huggingface_hub import EvalResult

    from unifer.metrics.reports import summary_rows

    results = []
    for name, figures in summary_rows(metrics):
        config = "all" if name == "overall" else name
        for metric, key in (("accuracy", "accuracy"), ("uar", "uar"), ("f1", "macro_f1")):
            if figures.get(key) is not None:
                results.append(
                    EvalResult(
                        task_type="image-text-to-text",
                        task_name="Facial expression recognition",
                        dataset_type=dataset,
                        dataset_name=f"FERBench ({config})",
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


def build_card(
    model_dir: str | Path,
    metrics: dict[str, Any] | None,
    *,
    model_name: str | None = None,
    base_model: str = DEFAULT_BASE_MODEL,
    license: str = "apache-2.0",
    synthetic: bool = False,
):
    """A ``huggingface_hub.ModelCard`` for a UniFER model folder."""
    from huggingface_hub import ModelCard, ModelCardData

    name = model_name or Path(model_dir).name
    data = ModelCardData(
        language="en",
        license=license,
        library_name="transformers",
        pipeline_tag="image-text-to-text",
        base_model=base_model,
        datasets=DATASETS,
        tags=["facial-expression-recognition", "unifer", "qwen2.5-vl"],
        model_name=name,
        eval_results=eval_results(metrics) if metrics else None,
    )
    warning = (
        "\n> **Synthetic demo model.** Trained on SynFER cartoon faces by `unifer quickstart`; its figures "
        "are on synthetic data and say nothing about real facial expression recognition.\n"
        if synthetic
        else ""
    )
    results = (
        f"## FERBench results ({metrics['extraction']} extraction)\n\n{_results_table(metrics)}\n" if metrics else ""
    )
    body = f"""
# {name}
{warning}
A facial expression recognition model in the UniFER format (Qwen2.5-VL architecture): it reasons about a face in
`<think></think>` and answers with one of the candidate labels in `<answer></answer>`.

{results}
## Usage

```python
from transformers import AutoModelForImageTextToText
import unifer.modeling_unifer  # registers the UniFER classes (or pass trust_remote_code=True)

model = AutoModelForImageTextToText.from_pretrained("{name}")
prediction = model.predict("face.jpg", ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"])[0]
print(prediction.label, prediction.probabilities)
```
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
