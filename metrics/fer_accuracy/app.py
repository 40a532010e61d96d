"""The metric's Space: paste responses and gold labels, read the FER accuracy figures (Gradio 6).

evaluate's own ``launch_gradio_widget`` builds on ``gr.inputs``, which Gradio 4 removed; this small app replaces it.
"""

import re
from pathlib import Path

import evaluate
import gradio as gr

HERE = Path(__file__).parent
HEADERS = ["prediction", "reference", "subset (optional)"]
EXAMPLE_ROWS = [
    ["<think>Mouth corners up.</think><answer>happy</answer>", "happiness", ""],
    ["<think>Brows lowered.</think><answer>anger</answer>", "anger", ""],
    ["<answer>sad or angry</answer>", "sadness", ""],
]

# The script's path, not the folder's: a Space's checkout is not named after the metric.
metric = evaluate.load(str(HERE / "fer_accuracy.py"))


def compute(rows: list[list[str]], extraction: str, bootstrap: int) -> dict:
    """The metric's result for the table's filled rows; the subset column is used when every row names one."""
    rows = [[str(cell or "").strip() for cell in row] for row in rows if any(str(cell or "").strip() for cell in row)]
    if not rows:
        raise gr.Error("The table is empty: give at least one prediction and its reference.")
    predictions, references, subsets = (list(column) for column in zip(*rows))
    options = {"subsets": subsets} if all(subsets) else {}
    try:
        return metric.compute(
            predictions=predictions, references=references, extraction=extraction, bootstrap=int(bootstrap), **options
        )
    except ValueError as err:  # the metric's messages name the bad item and the fix
        raise gr.Error(str(err)) from None


def card_body() -> str:
    """The metric card without its YAML header."""
    return re.sub(r"\A---\n.*?\n---\n", "", (HERE / "README.md").read_text(encoding="utf-8"), flags=re.DOTALL)


with gr.Blocks(title="Metric: fer_accuracy") as demo:
    gr.Markdown("# Metric: fer_accuracy\nScore free-text FER answers (`<think>…</think><answer>label</answer>`).")
    table = gr.Dataframe(EXAMPLE_ROWS, headers=HEADERS, type="array", column_count=3, interactive=True)
    with gr.Row():
        extraction = gr.Radio(["strict", "paper"], value="strict", label="extraction")
        bootstrap = gr.Number(1000, precision=0, minimum=0, label="bootstrap resamples (0: no interval)")
    button = gr.Button("Compute", variant="primary")
    result = gr.JSON(label="fer_accuracy")
    button.click(compute, [table, extraction, bootstrap], result, api_name="compute")
    with gr.Accordion("Metric card", open=False):
        gr.Markdown(card_body())

if __name__ == "__main__":
    demo.launch()
