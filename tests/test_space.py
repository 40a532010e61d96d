"""The Gradio Space: served on loopback with the tiny random model and driven through gradio_client, as a user's
browser or script would. The tiny model's outputs are noise, so tests check the plumbing, not the answers."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls from the test servers

gradio_client = pytest.importorskip("gradio_client")
import torch  # noqa: E402
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from packaging.requirements import Requirement  # noqa: E402
from PIL import Image  # noqa: E402

from unifer import PUBLISHED_MODEL, SUBSET_LABELS, parse  # noqa: E402
from unifer.data.synfer import draw_face  # noqa: E402
from unifer.metrics.scoring import score  # noqa: E402
from unifer.space.export import space_files  # noqa: E402
from unifer.space.ui import (  # noqa: E402
    LOCAL_SOURCE,
    NO_ANSWER,
    PAPER_SOURCE,
    ModelUnavailableError,
    build_demo,
    launch,
    load_model,
)

from .artifacts import (  # noqa: E402
    build_wheel,
    canonical,
    imported_distributions,
    installed_closure,
    link_distributions,
    pip_resolves,
    requirements,
    venv_with,
    wheel_requirements,
)
from .support import REPO  # noqa: E402

MAX_NEW_TOKENS = 8  # enough to stream several chunks; the tiny model never stops on its own


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(model_path, results_dir: Path, examples_dir: Path) -> Iterator[str]:
    """Serve the demo on a free loopback port; yield its URL."""
    demo = build_demo(
        str(model_path), examples_dir=examples_dir, results_dir=results_dir, max_new_tokens=MAX_NEW_TOKENS
    )
    _, url, _ = launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield url
    finally:
        demo.close()


def write_results(folder: Path) -> Path:
    """A results folder as the leaderboard reads it: one `unifer eval` run, one flat file, one broken file."""
    run = score(
        ["<answer>happy</answer>", "<answer>sad</answer>", "<answer>happy</answer>"],
        ["happiness", "anger", "happy"],
        subsets=["rafdb", "rafdb", "ferplus"],
        bootstrap=0,
    )
    (folder / "my-run").mkdir(parents=True)
    (folder / "my-run" / "metrics.json").write_text(json.dumps(run))
    (folder / "flat-model.json").write_text(json.dumps(score(["<answer>sad</answer>"], ["happiness"], bootstrap=0)))
    (folder / "broken.json").write_text("{")
    return folder


@pytest.fixture(scope="module")
def client(tiny_model_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("space")
    with served(tiny_model_path, write_results(root / "results"), root / "examples") as url:
        yield gradio_client.Client(url, verbose=False)


@pytest.fixture(scope="module")
def face(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faces") / "face.png"
    draw_face("happiness", seed=1).save(path)
    return path


def classify(client, image, preset="rafdb", custom=""):
    return client.predict(image and handle_file(str(image)), preset, custom, api_name="/classify")


def check_prediction(outputs, candidates) -> None:
    reasoning, answer, probabilities, formed = outputs
    confidences = {item["label"]: item["confidence"] for item in probabilities["confidences"]}
    assert set(confidences) == set(candidates)
    assert sum(confidences.values()) == pytest.approx(1.0)
    assert answer in candidates or answer == NO_ANSWER
    assert formed.startswith("yes" if parse(reasoning).well_formed else "no")


def test_face_streams_reasoning_then_scores_every_candidate(client, face):
    job = client.submit(handle_file(str(face)), "rafdb", "", api_name="/classify")
    final = job.result(timeout=120)
    check_prediction(final, SUBSET_LABELS["rafdb"])
    streamed = [outputs[0] for outputs in job.outputs()]
    # Token by token: several partial texts, each extending the previous one, ending with the full response.
    assert len(set(streamed)) >= 3 and streamed[-1] == final[0] != ""
    assert all(later.startswith(earlier) for earlier, later in zip(streamed, streamed[1:]))


@pytest.mark.parametrize("mode,suffix", [("L", "png"), ("RGBA", "png"), ("CMYK", "jpg")])
def test_grayscale_alpha_and_cmyk_are_converted_not_rejected(client, face, tmp_path, mode, suffix):
    path = tmp_path / f"face.{suffix}"
    Image.open(face).convert(mode).save(path)
    check_prediction(classify(client, path, "custom", "happy, sad, neutral"), ("happy", "sad", "neutral"))


def _text_file(path: Path) -> Path:
    path.with_suffix(".txt").write_text("not an image")
    return path.with_suffix(".txt")


def _truncated_png(path: Path) -> Path:
    draw_face("anger", seed=2).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    return path


def _tiny_png(path: Path) -> Path:
    Image.new("RGB", (10, 10), "white").save(path)
    return path


def _huge_png(path: Path) -> Path:
    Image.new("1", (8001, 8001)).save(path)  # 64,016,001 pixels in a few kB
    return path


@pytest.mark.parametrize(
    "make_image,preset,custom,message",
    [
        (None, "rafdb", "", "No image yet"),
        (_text_file, "rafdb", "", "face.txt: not a readable image"),
        (_truncated_png, "rafdb", "", "face.png: not a readable image"),
        (_tiny_png, "rafdb", "", "10×10 px is too small to show a face; give an image at least 32×32 px"),
        (_huge_png, "rafdb", "", "larger than 64,000,000 pixels"),
        ("face", "custom", " , ,", "list is empty"),
        ("face", "custom", "happy, banana", "Unknown emotion label 'banana'"),
        ("face", "custom", "happy, joy", "name the same emotion"),
        ("face", "no-such-preset", "", "Unknown label preset 'no-such-preset'"),
    ],
)
def test_bad_input_gets_a_plain_message(client, face, tmp_path, make_image, preset, custom, message):
    image = face if make_image == "face" else make_image and make_image(tmp_path / "face.png")
    with pytest.raises(AppError) as raised:
        classify(client, image, preset, custom)
    assert message in str(raised.value)
    assert "Traceback" not in str(raised.value)


def test_eight_simultaneous_users_all_get_answers(client, face):
    # One generation runs at a time: the other seven wait in the queue instead of failing.
    jobs = [client.submit(handle_file(str(face)), "ferplus", "", api_name="/classify") for _ in range(8)]
    for job in jobs:
        check_prediction(job.result(timeout=240), SUBSET_LABELS["ferplus"])


def test_leaderboard_shows_paper_figures_and_local_runs(client):
    table, note = client.predict(api_name="/leaderboard")
    rows = {row[0]: row[1:] for row in table["data"]}
    assert rows["UniFER-7B"][:2] == [PAPER_SOURCE, "68.84"]
    assert rows["Gemini-2.5-Flash (best general MLLM)"][:2] == [PAPER_SOURCE, "61.55"]
    # my-run: RAF-DB 1 of 2, FERPlus 1 of 1, overall 2 of 3, strict extraction.
    assert rows["my-run"] == [LOCAL_SOURCE, "66.67", "50.00", "100.00", "–", "–", "strict"]
    assert rows["flat-model"] == [LOCAL_SOURCE, "0.00", "–", "–", "–", "–", "strict"]
    assert [row[0] for row in table["data"]] == [
        "UniFER-7B",
        "my-run",
        "Gemini-2.5-Flash (best general MLLM)",
        "flat-model",
    ]
    assert "`broken.json` (JSONDecodeError)" in note


def test_a_named_model_that_cannot_load_stops_start_up(tmp_path, monkeypatch):
    missing = str(tmp_path / "missing-model")
    with pytest.raises(ModelUnavailableError, match="missing-model.*named by --model / UNIFER_MODEL"):
        load_model(missing)
    monkeypatch.setenv("UNIFER_MODEL", missing)
    with pytest.raises(ModelUnavailableError, match="missing-model"):
        load_model()


def test_on_a_gpu_the_default_model_that_cannot_load_stops_start_up(monkeypatch):
    monkeypatch.delenv("UNIFER_MODEL", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the Hub is offline in tests: it cannot load
    with pytest.raises(ModelUnavailableError, match=f"default model `{PUBLISHED_MODEL}` on this GPU machine"):
        load_model()


def test_the_cpu_demo_with_no_model_named_falls_back_with_a_notice(tiny_model_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no quickstart_out/ here
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the fallback model's folder
    monkeypatch.delenv("UNIFER_MODEL", raising=False)  # the published model cannot load offline
    monkeypatch.setenv("UNIFER_QUICKSTART_MODEL", str(tiny_model_path))
    _, notice = load_model()
    assert "synthetic cartoon faces" in notice
    assert f"Could not load `{PUBLISHED_MODEL}`" in notice and "CPU demo names no model" in notice

    monkeypatch.delenv("UNIFER_QUICKSTART_MODEL")
    built = []
    monkeypatch.setattr(
        "unifer.tiny.build_tiny_unifer",  # a copy of the session's model, not a 20 s rebuild
        lambda path: built.append(path) or shutil.copytree(tiny_model_path, path, dirs_exist_ok=True),
    )
    engine, notice = load_model()
    assert built and "tiny random model" in notice and "meaningless" in notice and PUBLISHED_MODEL in notice
    assert engine.model.config.model_type == "qwen2_5_vl"


def test_cli_refuses_a_model_that_cannot_load(tmp_path, capsys):
    from unifer.commands import main

    assert main(["space", "--model", str(tmp_path / "nope")]) == 2
    assert f"no such folder: {tmp_path / 'nope'} (--model)" in capsys.readouterr().err  # before gradio starts


def test_cli_serves_on_loopback(tiny_model_path, tmp_path, monkeypatch):
    from unifer.commands import main
    from unifer.space import ui as space_app

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the example faces' folder
    launched = {}
    monkeypatch.setattr(space_app, "launch", lambda demo, **kwargs: launched.update(kwargs, demo=demo))
    assert main(["space", "--model", str(tiny_model_path), "--port", "7999", "--max-new-tokens", "4"]) == 0
    assert launched["server_name"] == "127.0.0.1" and launched["server_port"] == 7999 and not launched["share"]
    assert launched["demo"].fns  # a built Blocks app with its events


# ---------------------------------------------------------------------------------------------------- the Space folder

#: Installed by requirements.txt on the Hub but not in the test environment; ui.py imports it optionally.
ZERO_GPU_ONLY = {"spaces"}


def test_requirements_name_every_package_the_space_imports():
    """Everything the Space's code imports (lazily too) is a listed requirement or one of unifer's own."""
    listed = {canonical(r.name) for r in requirements(REPO / "space" / "requirements.txt")}
    core = {canonical(Requirement(line).name) for line in metadata.requires("unifer") if "extra ==" not in line}
    imported = imported_distributions(REPO / "space")
    assert {"gradio", "torch", "unifer"} <= set(imported)
    assert set(imported) <= listed | core | {"unifer"}, set(imported) - listed - core
    assert "accelerate" in listed  # device_map="auto" on a GPU


def test_the_export_writes_the_unifer_line_and_refuses_a_bad_one(tmp_path):
    from unifer.commands import main

    line = "unifer @ git+https://github.com/someone/unifer.git@v0.1.0"
    assert main(["export", "space", str(tmp_path / "space"), "--unifer-requirement", line]) == 0
    written = requirements(tmp_path / "space" / "requirements.txt")
    assert str(written[0]) == line and {r.name for r in written[1:]} == {
        r.name for r in requirements(REPO / "space" / "requirements.txt")
    }
    assert main(["export", "space", str(tmp_path / "other"), "--unifer-requirement", "unifer"]) == 2
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
def test_the_exported_space_runs_from_what_its_requirements_install(tiny_model_path, tmp_path):
    """A fresh venv holding only what the Space's requirements.txt installs: unifer from a wheel of this checkout
    (its requirement line), everything else linked from this environment's copies of the distributions those
    requirements resolve to. app.py must import and build the demo there (offline, the tiny model named)."""
    wheel = build_wheel(REPO, tmp_path / "wheel")
    space = tmp_path / "space"
    space.mkdir()
    for name, text in space_files(f"unifer @ {wheel.as_uri()}").items():
        (space / name).write_text(text)
    [unifer_line, *others] = requirements(space / "requirements.txt")
    closure, missing = installed_closure([*others, *wheel_requirements(wheel)])
    assert missing == ZERO_GPU_ONLY
    link_distributions(closure - {"unifer"}, tmp_path / "site")
    python, site_packages = venv_with(tmp_path / "site", tmp_path / "venv")
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet"]
    subprocess.run([*pip, "--target", str(site_packages), str(unifer_line)], check=True, timeout=300)
    script = """
import runpy, unifer, gradio
app = runpy.run_path("app.py", run_name="space")
assert isinstance(app["demo"], gradio.Blocks) and app["demo"].fns
print("UNIFER", unifer.__file__)
"""
    env = {**os.environ, "UNIFER_MODEL": str(tiny_model_path), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run([python, "-c", script], cwd=space, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert str(tmp_path / "venv") in result.stdout.split("UNIFER", 1)[1]  # the wheel's unifer, not the checkout


@pytest.mark.slow
def test_pip_resolves_the_space_requirements_from_pypi(tmp_path):
    pip_resolves(REPO / "space" / "requirements.txt")  # the unifer line is the exported one: a URL, not PyPI
