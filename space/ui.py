"""The UniFER Gradio demo (the Hugging Face Space): upload a face, watch the model reason, read its answer; or give
a photo, a webcam snapshot or a video and read every face in it (numbered boxes; for a video, each tracked face's
emotion over time, with the rows as CSV and JSONL).

``build_demo()`` returns the Blocks app and ``launch(demo)`` serves it; ``space/app.py`` and ``unifer space`` are
thin launchers around these two. All FER logic (labels, prompt, image preparation, parsing, scoring) comes from the
package: this module only wires it to widgets.

Environment: ``UNIFER_MODEL`` (default: the published UniFER-7B), ``UNIFER_QUICKSTART_MODEL`` (fallback, default
``quickstart_out/final-model``), ``UNIFER_RESULTS_DIR`` (leaderboard, default ``space/results``),
``UNIFER_MAX_NEW_TOKENS`` (default 1024).

A model that cannot load stops start-up (:class:`ModelUnavailableError`) on a GPU and whenever the model was named
(``--model`` or ``UNIFER_MODEL``): visitors never get a stand-in's answers by mistake. Only the CPU/offline demo with
no model named falls back to the quickstart model, else a tiny random model, under a banner saying so.
"""

from __future__ import annotations

import html
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from PIL import Image

from unifer import PUBLISHED_MODEL
from unifer.faces import FaceResult, find_faces, load_photo, predict_crops
from unifer.images import ImageInputError, load_image
from unifer.inference import FERPrediction, FERRequest, TransformersEngine, make_requests, stream_prediction
from unifer.labels import CANONICAL_EMOTIONS, SUBSET_LABELS, SUBSETS, validate_candidates
from unifer.prompts import REASONING_MAX_NEW_TOKENS

logger = logging.getLogger(__name__)

try:  # On a ZeroGPU Space, `spaces.GPU` attaches a GPU for the duration of each call; elsewhere it is a no-op.
    import spaces

    gpu = spaces.GPU(duration=120)
except ImportError:

    def gpu(fn: Callable) -> Callable:
        return fn


# Smaller than this, an image cannot show a face the model could read (the model sees 224×224 resamples).
MIN_FACE_SIDE = 32
DEFAULT_RESULTS_DIR = "space/results"
DEFAULT_QUICKSTART_MODEL = "quickstart_out/final-model"
# Users beyond this many waiting requests are told the queue is full instead of waiting for minutes.
QUEUE_SIZE = 64
# Refused by Gradio at upload time, before any decoding; a face photo is far smaller.
MAX_UPLOAD = "25mb"

# Caps so that one visitor's photo or video cannot hold the model for long (every tab shares it, one at a time):
# a photo's faces, a video's length, frames and faces per frame. Videos are read without reasoning (answers only).
PHOTO_MAX_FACES = 8
VIDEO_MAX_SECONDS = 30.0
VIDEO_MAX_FRAMES = 30
VIDEO_MAX_FACES = 4
VIDEO_FPS = 1.0
# Every event that runs the model waits in this one queue: the model is not shared between threads.
MODEL_QUEUE = "model"
BOX_COLOURS = ("#e11d48", "#2563eb", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d")
FACE_HEADERS = ["face", "label", "score", "box [x0, y0, x1, y1]", "probabilities", "reasoning"]
VIDEO_HEADERS = ["time (s)", "face", "label", "score", "box [x0, y0, x1, y1]"]

CANONICAL, CUSTOM, MODEL = "canonical", "custom", "model"
PRESETS: dict[str, tuple[str, ...]] = {**SUBSET_LABELS, CANONICAL: CANONICAL_EMOTIONS}
SUBSET_TITLES = {"rafdb": "RAF-DB", "ferplus": "FERPlus", "affectnet": "AffectNet", "sfew_2.0": "SFEW 2.0"}
SHORT_NO_ANSWER = "(no answer)"  # in tables and plots; NO_ANSWER says why
NO_ANSWER = "No parsable answer: the response does not name exactly one candidate in a single <answer> block."

#: Headline FERBench accuracies (%) as published (arXiv 2511.00389); the paper used its own answer extraction.
PAPER_RESULTS = (("UniFER-7B", 68.84), ("Gemini-2.5-Flash (best general MLLM)", 61.55))
LEADERBOARD_HEADERS = [
    "model",
    "source",
    "overall accuracy (%)",
    *(f"{SUBSET_TITLES[s]} (%)" for s in SUBSETS),
    "extraction",
]
PAPER_SOURCE, LOCAL_SOURCE = "as reported by the paper", "this Space's run"

TINY_NOTICE = (
    "⚠️ **Demo mode — tiny random model.** {why}This app is running a tiny, randomly initialised test "
    "model, not UniFER-7B. It was never trained: its reasoning, answers and probabilities are "
    "**meaningless**. It only shows how the demo works."
)
QUICKSTART_NOTICE = (
    "⚠️ **Demo mode — quickstart model** (`{path}`). {why}This model was trained only on "
    "**synthetic cartoon faces** (SynFER); do not expect sensible answers on real photos."
)
FALLBACK_REASON = "Could not load `{model}` ({error}), and this CPU demo names no model, so it runs a stand-in. "
MODEL_NOTICE = "**Model:** `{path}`"

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="amber").set(
    button_primary_background_fill="*primary_600",
    button_primary_background_fill_hover="*primary_700",
    button_primary_text_color="white",
)
CSS = """
.notice {border-left: 4px solid #f59e0b; background: #fffbeb; padding: 8px 14px; border-radius: 6px;}
.notice p {margin: 0; color: #78350f;}
"""


# ---------------------------------------------------------------------------------------------------- model


class ModelUnavailableError(ValueError):
    """The model to serve cannot be loaded, where serving a stand-in would mislead (a GPU, or a named model)."""


def load_model(requested: str | None = None) -> tuple[TransformersEngine, str]:
    """The engine to serve and the banner describing it.

    ``requested`` (else ``UNIFER_MODEL``, else UniFER-7B) is loaded. If it cannot be, a model that was named, or
    any model on a GPU, raises :class:`ModelUnavailableError`; only the CPU/offline demo with no model named falls
    back to the quickstart model, else a tiny random model built on the spot, and its banner says so plainly."""
    named = requested or os.environ.get("UNIFER_MODEL")
    model = named or PUBLISHED_MODEL
    try:
        return TransformersEngine(model), _notice(model)
    except Exception as err:  # offline, not found, out of memory, ...: each names its cause in its first line
        error = f"{type(err).__name__}: {_first_line(err)}"
        if named:
            raise ModelUnavailableError(
                f"Could not load the model `{model}` named by --model / UNIFER_MODEL ({error}). Give a model folder "
                "or a Hub id this machine can reach; a named model is never replaced by a stand-in."
            ) from err
        if torch.cuda.is_available():
            raise ModelUnavailableError(
                f"Could not load the default model `{model}` on this GPU machine ({error}). Fix its access (network, "
                "HF_TOKEN) or set UNIFER_MODEL; a GPU demo serves the real model or nothing."
            ) from err
    why = FALLBACK_REASON.format(model=model, error=error)
    logger.warning("%s", why)
    quickstart = Path(os.environ.get("UNIFER_QUICKSTART_MODEL", DEFAULT_QUICKSTART_MODEL))
    if quickstart.is_dir():
        return TransformersEngine(quickstart), QUICKSTART_NOTICE.format(path=quickstart, why=why)
    from unifer.tiny import build_tiny_unifer

    return TransformersEngine(build_tiny_unifer(tempfile.mkdtemp(prefix="unifer-tiny-"))), TINY_NOTICE.format(why=why)


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [""])[0][:200]


def _notice(path: str) -> str:
    """A model asked for by path may still be the tiny test model: say so rather than present noise as answers."""
    from unifer.tiny import TINY_MODEL_DESCRIPTION

    readme = Path(path) / "README.md"
    if readme.is_file() and readme.read_text(encoding="utf-8").startswith(TINY_MODEL_DESCRIPTION.splitlines()[0]):
        return TINY_NOTICE.format(why="")
    return MODEL_NOTICE.format(path=path)


# ---------------------------------------------------------------------------------------------------- inputs


def candidate_labels(preset: str, custom: str | None, model_labels: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The candidates of a preset (``model``: the model config's ``model_labels``), or the custom comma-separated
    list (known emotions only, each once)."""
    if preset == MODEL and model_labels:
        return model_labels
    if preset == CUSTOM:
        return validate_candidates([name.strip() for name in (custom or "").split(",") if name.strip()])
    if preset not in PRESETS:
        raise ValueError(f"Unknown label preset {preset!r}; choose one of {', '.join([*PRESETS, CUSTOM])}.")
    return PRESETS[preset]


def face_image(payload: Any) -> Image.Image:
    """Open the uploaded image (Gradio's file payload, a path or a PIL image), refusing what cannot be a face.

    Gradio's own decoding is bypassed (``preprocess=False``), so unreadable files reach the package's loader and
    its messages; grayscale, RGBA and CMYK are converted later by ``prepare_image``."""
    if payload is None:
        raise ImageInputError(
            "No image yet: upload a photo of a face, take one with the webcam, paste one from the "
            "clipboard, or click a synthetic example."
        )
    source, name = payload, "image"
    if isinstance(payload, dict):
        source, name = payload.get("path"), payload.get("orig_name") or name
    image = load_image(source, name=name)  # its errors (decompression bombs included) name the item
    if min(image.size) < MIN_FACE_SIDE:
        raise ImageInputError(
            f"{name}: {image.width}×{image.height} px is too small to show a face; give an image "
            f"at least {MIN_FACE_SIDE}×{MIN_FACE_SIDE} px."
        )
    return image


def _input_error(err: Exception) -> gr.Error:
    # gr.Error renders its message as HTML: escape it, since it can quote the user's own label text.
    return gr.Error(html.escape(str(err), quote=False), title="Cannot classify this input", print_exception=False)


# ---------------------------------------------------------------------------------------------------- leaderboard


def leaderboard(results_dir: str | Path) -> tuple[list[list[str]], str]:
    """Rows for the leaderboard table (best first) and a note on the results folder."""
    rows = [
        [name, PAPER_SOURCE, f"{accuracy:.2f}", *["–"] * len(SUBSETS), "paper"] for name, accuracy in PAPER_RESULTS
    ]
    skipped = []
    for name, path in _metrics_files(Path(results_dir)):
        try:
            rows.append(_metrics_row(name, json.loads(path.read_text(encoding="utf-8"))))
        # A stray or partial file must not hide the other rows.
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            skipped.append(f"`{path.relative_to(results_dir)}` ({type(err).__name__})")
    rows.sort(key=lambda row: -float(row[2]))
    note = (
        f"Runs of `unifer eval` are read from `{results_dir}` (one sub-folder with a `metrics.json`, or one "
        "`<model>.json`, per model)."
    )
    if skipped:
        note += f" Skipped unreadable files: {', '.join(skipped)}."
    return rows, note


def _metrics_files(results_dir: Path) -> list[tuple[str, Path]]:
    """(model name, metrics file): ``<dir>/<model>/metrics.json`` and ``<dir>/<model>.json``."""
    if not results_dir.is_dir():
        return []
    folders = [(path.parent.name, path) for path in sorted(results_dir.glob("*/metrics.json"))]
    return folders + [(path.stem, path) for path in sorted(results_dir.glob("*.json"))]


def _metrics_row(name: str, result: dict[str, Any]) -> list[str]:
    from unifer.metrics.reports import summary_rows

    figures = dict(summary_rows(result))
    per_subset = [f"{100 * figures[s]['accuracy']:.2f}" if s in figures else "–" for s in SUBSETS]
    return [name, LOCAL_SOURCE, f"{100 * figures['overall']['accuracy']:.2f}", *per_subset, result["extraction"]]


# ---------------------------------------------------------------------------------------------------- app


def _write_examples(folder: Path) -> list[Path]:
    """A few SynFER cartoon faces to try the demo with, without uploading a photo of anyone."""
    from unifer.data.synfer import draw_face

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed, emotion in enumerate(("happiness", "surprise", "sadness", "anger")):
        path = folder / f"synfer_{emotion}.png"
        draw_face(emotion, seed=seed + 3, size=224).save(path)
        paths.append(path)
    return paths


def _preset_choices(model_labels: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    own = [(f"This model's labels: {', '.join(model_labels)}", MODEL)] if model_labels else []
    subsets = [(f"{SUBSET_TITLES[s]}: {', '.join(labels)}", s) for s, labels in SUBSET_LABELS.items()]
    return [*own, *subsets, ("8 canonical emotions", CANONICAL), ("Custom (comma-separated list)", CUSTOM)]


def model_labels(engine: Any) -> tuple[str, ...]:
    """The candidate labels the model's config names (a UniFER checkpoint's), validated; () where it names none."""
    labels = getattr(getattr(getattr(engine, "model", None), "config", None), "candidate_labels", None)
    return validate_candidates(labels) if labels else ()


def _labels_inputs(own: tuple[str, ...]) -> tuple[gr.Dropdown, gr.Textbox]:
    """The candidate-label preset (default: the model's own labels where its config names them) and the custom
    list, shown only for the custom preset."""
    preset = gr.Dropdown(_preset_choices(own), value=MODEL if own else CANONICAL, label="Candidate labels")
    custom = gr.Textbox(
        label="Custom labels",
        placeholder="e.g. happy, sad, neutral",
        info="Known emotion names or their aliases, comma-separated, each once.",
        visible=False,
    )
    preset.change(
        lambda p: gr.Textbox(visible=p == CUSTOM), preset, custom, api_visibility="private", concurrency_limit=None
    )
    return preset, custom


def build_demo(
    model_path: str | None = None,
    *,
    examples_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    max_new_tokens: int | None = None,
) -> gr.Blocks:
    """The demo's Blocks. ``model_path``: see :func:`load_model`. ``results_dir``: leaderboard runs (default
    ``UNIFER_RESULTS_DIR``, else ``space/results``). ``max_new_tokens``: default ``UNIFER_MAX_NEW_TOKENS``, else
    1024. The model is loaded once, here."""
    engine, notice = load_model(model_path)
    max_new_tokens = max_new_tokens or int(os.environ.get("UNIFER_MAX_NEW_TOKENS", REASONING_MAX_NEW_TOKENS))
    results_dir = results_dir or os.environ.get("UNIFER_RESULTS_DIR") or DEFAULT_RESULTS_DIR
    examples = _write_examples(Path(examples_dir or tempfile.mkdtemp(prefix="unifer-space-examples-")))
    own = model_labels(engine)

    @gpu
    def run_model(request: FERRequest) -> Iterator[tuple[str, FERPrediction | None]]:
        # Everything that needs the accelerator, in one call: the streamed response, then the candidates' scores.
        yield from stream_prediction(engine, request, max_new_tokens=max_new_tokens)

    def classify(image: Any, preset: str, custom: str | None) -> Iterator[tuple[Any, ...]]:
        try:  # checked before any GPU time is taken
            request = make_requests([face_image(image)], candidate_labels(preset, custom, own))[0]
        except ValueError as err:  # ImageInputError is one too
            raise _input_error(err) from None
        for text, prediction in run_model(request):
            if prediction is None:
                yield text, "generating…", None, ""
        formed = (
            "yes: <think>…</think><answer>…</answer>"
            if prediction.well_formed
            else "no: not exactly one <think> block followed by one <answer> block"
        )
        yield text, prediction.label or NO_ANSWER, prediction.probabilities, formed

    with gr.Blocks(title="UniFER: facial expression recognition", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# UniFER: facial expression recognition with a multimodal LLM\n"
            "Give a face and a set of candidate emotions: the model reasons about the face (streamed below), "
            "then answers with one label. **Photo**, **Webcam** and **Video** read every face they find. Uploads "
            "are deleted from the server within two hours."
        )
        gr.Markdown(notice, elem_classes="notice")
        with gr.Tab("Classify"):
            _classify_tab(classify, own, examples)
        faces = FacesTabs(engine, own, max_new_tokens)
        with gr.Tab("Photo"):
            faces.photo_tab("photo", ["upload", "clipboard"], "Photo with one or more faces")
        with gr.Tab("Webcam"):
            faces.photo_tab("webcam", ["webcam"], "Webcam snapshot")
        with gr.Tab("Video"):
            faces.video_tab()
        with gr.Tab("Leaderboard"):
            _leaderboard_tab(results_dir)
    return demo


def _classify_tab(classify, own: Sequence[str] | None, examples: Sequence[Path]) -> None:
    """One face in, the reasoning streamed, the answer and each candidate's probability (``classify``'s outputs)."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=1):
            image = gr.Image(
                sources=["upload", "webcam", "clipboard"],
                type="filepath",
                image_mode=None,
                label="Face",
                height=300,
            )
            preset, custom = _labels_inputs(own)
            button = gr.Button("Classify expression", variant="primary")
            gr.Examples(
                [[str(path)] for path in examples],
                [image],
                cache_examples=False,
                label="Synthetic example faces (SynFER cartoons, not real people)",
            )
        with gr.Column(scale=1):
            reasoning = gr.Textbox(label="Reasoning (streamed)", lines=10, max_lines=20, autoscroll=True)
            with gr.Row():
                answer = gr.Textbox(label="Answer (strict parse)")
                formed = gr.Textbox(label="Well-formed response?")
            probabilities = gr.Label(
                label="Probability of each candidate as the answer after this reasoning",
                num_top_classes=len(CANONICAL_EMOTIONS),
                show_heading=False,
            )
    # preprocess=False: the image payload reaches face_image untouched (see there).
    button.click(
        classify,
        [image, preset, custom],
        [reasoning, answer, probabilities, formed],
        api_name="classify",
        preprocess=False,
        concurrency_id=MODEL_QUEUE,
    )


def _leaderboard_tab(results_dir: str | Path) -> None:
    """The paper's headline figures and the ``unifer eval`` runs found in ``results_dir``, reloadable."""
    gr.Markdown(
        "FERBench accuracy. Rows marked *as reported by the paper* are the published headline "
        "figures; the others are `unifer eval` runs found by this Space."
    )
    rows, note = leaderboard(results_dir)
    table = gr.Dataframe(rows, headers=LEADERBOARD_HEADERS, interactive=False, wrap=True)
    note_md = gr.Markdown(note)
    reload = gr.Button("Reload results")
    reload.click(
        lambda: leaderboard(results_dir),
        None,
        [table, note_md],
        api_name="leaderboard",
        concurrency_limit=None,
    )


# ---------------------------------------------------------------------------------------------------- faces


def draw_boxes(image: Image.Image, results: list[FaceResult]) -> Image.Image:
    """A copy of ``image`` with each face's box and its number (as in the table and the rows) drawn on it."""
    from PIL import ImageDraw, ImageFont

    drawn = image.copy()
    draw = ImageDraw.Draw(drawn)
    line = max(2, round(max(image.size) / 300))
    font = ImageFont.load_default(size=max(14, round(max(image.size) / 30)))
    for result in results:
        colour = BOX_COLOURS[result.face % len(BOX_COLOURS)]
        x0, y0 = result.box[:2]
        draw.rectangle(result.box, outline=colour, width=line)
        left, top, right, bottom = draw.textbbox((x0 + 2 * line, y0 + line), str(result.face), font=font)
        draw.rectangle((x0, y0, right + 2 * line, bottom + 2 * line), fill=colour)
        draw.text((x0 + 2 * line, y0 + line), str(result.face), fill="white", font=font)
    return drawn


def face_rows(results: list[FaceResult]) -> list[list[Any]]:
    """One table row per face: number, label, its probability, box, every candidate's probability, reasoning."""
    rows = []
    for result in results:
        prediction = result.prediction
        ranked = sorted(prediction.probabilities.items(), key=lambda item: -item[1])
        score = prediction.probabilities.get(prediction.label) if prediction.label else None
        rows.append(
            [
                result.face,
                prediction.label or SHORT_NO_ANSWER,
                "" if score is None else f"{score:.2f}",
                json.dumps(list(result.box)),
                ", ".join(f"{label} {probability:.2f}" for label, probability in ranked),
                prediction.reasoning or "",
            ]
        )
    return rows


def _photo_source(payload: Any) -> tuple[Any, str]:
    if payload is None:
        raise ImageInputError("No photo yet: upload one, paste one, or take a webcam snapshot.")
    if isinstance(payload, dict):
        return payload.get("path"), payload.get("orig_name") or Path(str(payload.get("path"))).name
    return payload, Path(str(payload)).name if isinstance(payload, (str, Path)) else "image"


class FacesTabs:
    """The Photo and Webcam tabs (every face of a photo: numbered boxes, and per face its label, probabilities and
    reasoning) and the Video tab (each tracked face's emotion over time, the rows as CSV and JSONL)."""

    def __init__(self, engine: Any, own: tuple[str, ...], max_new_tokens: int):
        self.engine, self.own, self.max_new_tokens = engine, own, max_new_tokens
        self.read_faces = gpu(self._read_faces)
        self.read_video = gpu(self._read_video)

    def _read_faces(self, image: Image.Image, faces, candidates) -> list[FaceResult]:
        return predict_crops(self.engine, image, faces, candidates, max_new_tokens=self.max_new_tokens)

    def _read_video(self, config) -> None:
        from unifer.predict_files import predict_files

        predict_files(config, self.engine, progress=False)

    def photo(self, payload: Any, preset: str, custom: str | None) -> tuple[Any, list[list[Any]], str]:
        try:  # checked before any GPU time is taken
            source, name = _photo_source(payload)
            image = load_photo(source, name=name)  # EXIF orientation applied: boxes in displayed pixels
            candidates = candidate_labels(preset, custom, self.own)
            faces = find_faces(image, max_faces=PHOTO_MAX_FACES, name=name)
        except ValueError as err:  # ImageInputError is one too
            raise _input_error(err) from None
        if not faces:
            return (
                image,
                [],
                f"**No face found in {html.escape(name)}.** The detector finds frontal faces of 40 px or more.",
            )
        results = self.read_faces(image, faces, candidates)
        return draw_boxes(image, results), face_rows(results), f"{len(results)} face(s), numbered left to right."

    def video(self, path: str | None, fps: float, preset: str, custom: str | None):
        from unifer.configs import PredictConfig
        from unifer.inference import DEFAULT_MAX_NEW_TOKENS
        from unifer.jsonl import read_records
        from unifer.predict_files import ledger_path
        from unifer.video import check_video

        try:  # checked before any GPU time is taken
            if not path:
                raise ValueError(f"No video yet: upload one of at most {VIDEO_MAX_SECONDS:g} s.")
            name = Path(path).name
            candidates = candidate_labels(preset, custom, self.own)
            check_video(path, fps=fps, max_seconds=VIDEO_MAX_SECONDS, max_frames=VIDEO_MAX_FRAMES, name=name)
        except ValueError as err:  # VideoInputError is one too
            raise _input_error(err) from None
        config = PredictConfig(
            inputs=[path],
            out=str(Path(tempfile.mkdtemp(prefix="unifer-video-")) / f"{Path(path).stem}.csv"),
            model=str(getattr(self.engine.model, "name_or_path", "model")),
            candidate_labels=list(candidates),
            fps=fps,
            max_seconds=VIDEO_MAX_SECONDS,
            max_frames=VIDEO_MAX_FRAMES,
            max_faces=VIDEO_MAX_FACES,
            reasoning=False,
            max_new_tokens=DEFAULT_MAX_NEW_TOKENS[False],
        )
        self.read_video(config)
        records = read_records(ledger_path(config.out))
        errors = [record["error"] for record in records if record["error"]]
        if errors:
            raise _input_error(ValueError(errors[0].replace(str(path), name)))
        return (*video_outputs(records), [config.out, str(ledger_path(config.out))])

    def photo_tab(self, api_name: str, sources: list[str], label: str) -> None:
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                image = gr.Image(sources=sources, type="filepath", image_mode=None, label=label, height=300)
                preset, custom = _labels_inputs(self.own)
                button = gr.Button("Read every face", variant="primary")
                gr.Markdown(f"At most {PHOTO_MAX_FACES} faces per photo; the phone's orientation is applied first.")
            with gr.Column(scale=2):
                boxes = gr.Image(label="Faces found (numbered left to right)", interactive=False, height=400)
                summary = gr.Markdown()
                table = gr.Dataframe(headers=FACE_HEADERS, interactive=False, wrap=True, label="Per face")
        # preprocess=False: the payload reaches unifer.faces.load_photo (and its messages) untouched.
        button.click(
            self.photo,
            [image, preset, custom],
            [boxes, table, summary],
            api_name=api_name,
            preprocess=False,
            concurrency_id=MODEL_QUEUE,
        )

    def video_tab(self) -> None:
        with gr.Row(equal_height=False):
            with gr.Column(scale=1):
                video = gr.Video(sources=["upload"], label=f"Video (at most {VIDEO_MAX_SECONDS:g} s)", height=300)
                fps = gr.Slider(0.5, 2.0, value=VIDEO_FPS, step=0.5, label="Frames read per second")
                preset, custom = _labels_inputs(self.own)
                button = gr.Button("Read the faces over time", variant="primary")
                gr.Markdown(
                    f"At most {VIDEO_MAX_SECONDS:g} s, {VIDEO_MAX_FRAMES} frames and {VIDEO_MAX_FACES} faces per "
                    "frame; answers only (no reasoning), so that one video does not hold the model for long. Each "
                    "face keeps its number from frame to frame."
                )
            with gr.Column(scale=2):
                summary = gr.Markdown()
                plot = gr.ScatterPlot(
                    x="time (s)", y="face", color="label", label="Emotion over time per tracked face", height=300
                )
                table = gr.Dataframe(headers=VIDEO_HEADERS, interactive=False, label="Faces per frame")
                files = gr.File(label="Download the rows (CSV, JSONL)", file_count="multiple")
        button.click(
            self.video,
            [video, fps, preset, custom],
            [plot, table, summary, files],
            api_name="video",
            concurrency_id=MODEL_QUEUE,
        )


def video_outputs(records: list[dict[str, Any]]) -> tuple[Any, list[list[Any]], str]:
    """The timeline (one point per face and frame, coloured by label), the table, and a one-line summary."""
    import pandas as pd

    faces = [record for record in records if record["face"] is not None]
    table = [
        [
            record["time_s"],
            record["face"],
            record["label"] or SHORT_NO_ANSWER,
            "" if record["score"] is None else f"{record['score']:.2f}",
            json.dumps(record["box"]),
        ]
        for record in faces
    ]
    timeline = pd.DataFrame(
        {
            "time (s)": [record["time_s"] for record in faces],
            "face": [f"face {record['face']}" for record in faces],  # a category, one row of the plot each
            "label": [record["label"] or SHORT_NO_ANSWER for record in faces],
        }
    )
    frames = len({record["time_s"] for record in records})
    people = len({record["face"] for record in faces})
    return timeline, table, f"{frames} frames read; {people} face(s) tracked, {len(faces)} readings."


def launch(demo: gr.Blocks, **kwargs: Any) -> Any:
    """Serve the demo. One generation runs at a time (the model is not shared between threads); other users wait
    their turn in the queue. ``kwargs`` go to ``Blocks.launch`` (server_name, server_port, share, …)."""
    queued = demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    return queued.launch(theme=THEME, css=CSS, max_file_size=MAX_UPLOAD, **kwargs)
