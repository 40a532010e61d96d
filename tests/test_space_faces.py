"""The Space's Photo, Webcam and Video tabs, served on loopback with the tiny random model and driven through
gradio_client: real photos (composed scenes of real faces, boxes known by construction), a sideways phone photo,
a video written here with PyAV, caps and bad input. The tiny model's answers are noise: boxes, numbering, rows and
files are checked, not labels."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from unifer.space.ui import BOX_COLOURS, MODEL, VIDEO_MAX_SECONDS, build_demo  # noqa: E402

from .faces_photos import (  # noqa: E402
    crossing_faces,
    iou,
    jpeg_with_orientation,
    no_face_photo,
    three_faces,
    write_video,
)
from .test_space import served  # noqa: E402

RAF = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("space-faces")
    scene, _ = three_faces()
    scene.save(root / "group.jpg", quality=95)
    (root / "phone.jpg").write_bytes(jpeg_with_orientation(6, scene.transpose(Image.Transpose.ROTATE_90)))
    no_face_photo().save(root / "temple.png")
    write_video(root / "crossing.mp4")
    with av.open(str(root / "long.mp4"), "w") as container:  # 31 s at 1 fps, small: just over the cap
        stream = container.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(int(VIDEO_MAX_SECONDS) + 1):
            container.mux(stream.encode(av.VideoFrame.from_image(Image.new("RGB", (160, 120), "gray"))))
        container.mux(stream.encode())
    return root


@pytest.fixture(scope="module")
def client(tiny_model_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("space")
    with served(tiny_model_path, root / "results", root / "examples") as url:
        yield gradio_client.Client(url, verbose=False)


def photo(client, path, preset="rafdb", api_name="/photo"):
    return client.predict(handle_file(str(path)), preset, "", api_name=api_name)


@pytest.mark.parametrize("name", ["group.jpg", "phone.jpg"])
def test_every_face_of_a_photo_is_boxed_numbered_and_read(client, inputs, name):
    image_path, table, summary = photo(client, inputs / name)
    _, expected = three_faces()
    rows = table["data"]
    assert [row[0] for row in rows] == [0, 1, 2] and summary.startswith("3 face(s)")
    for want, row in zip(expected, rows):
        assert iou(want, json.loads(row[3])) > 0.5  # displayed pixels, the phone photo's too
        assert {item.split()[0] for item in row[4].split(", ")} == set(RAF)  # every candidate's probability
    drawn = np.asarray(Image.open(image_path).convert("RGB"), dtype=int)
    assert drawn.shape[:2] == (720, 960)
    # Face 0's box is drawn in its colour: the middle of its left edge.
    x0, y0, _, y1 = json.loads(rows[0][3])
    colour = np.array([int(BOX_COLOURS[0][i : i + 2], 16) for i in (1, 3, 5)])
    assert np.abs(drawn[(y0 + y1) // 2, x0 + 1] - colour).max() < 40


def test_the_webcam_tab_reads_every_face_of_a_snapshot(client, inputs):
    _, table, _ = photo(client, inputs / "group.jpg", api_name="/webcam")
    assert [row[0] for row in table["data"]] == [0, 1, 2]


def test_a_photo_without_a_face_says_so(client, inputs):
    _, table, summary = photo(client, inputs / "temple.png")
    assert table["data"] in ([], [[""] * 6], [[None] * 6]) and "No face found in temple.png" in summary


def test_a_bad_photo_gets_a_message_naming_it(client, tmp_path):
    from skimage import data

    with pytest.raises(AppError, match=r"no_time_for_that_tiny\.gif: an animated image"):
        photo(client, Path(data.data_dir) / "no_time_for_that_tiny.gif")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(AppError, match=r"empty\.jpg: empty file"):
        photo(client, empty)


def test_a_video_gives_each_tracked_face_over_time_and_the_rows_to_download(client, inputs):
    timeline, table, summary, files = client.predict(
        handle_file(str(inputs / "crossing.mp4")), 1.0, "rafdb", "", api_name="/video"
    )
    assert summary.startswith("6 frames read; 2 face(s) tracked, 12 readings")
    points = timeline["data"]
    assert len(points) == 12 and timeline["columns"] == ["time (s)", "face", "label"]
    numbers = {"astronaut": set(), "grace": set()}
    for time_s, face, box in ((row[0], row[1], json.loads(row[4])) for row in table["data"]):
        _, (astronaut_box, grace_box) = crossing_faces(time_s)
        numbers["astronaut" if iou(astronaut_box, box) > 0.5 else "grace"].add(face)
    assert len(numbers["astronaut"]) == 1 and len(numbers["grace"]) == 1 and numbers["astronaut"] != numbers["grace"]
    csv_path, jsonl_path = sorted(files, key=lambda f: f.endswith(".jsonl"))
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and {row["face"] for row in rows} == {"0", "1"}
    assert len(Path(jsonl_path).read_text().splitlines()) == 12


def test_a_video_over_the_cap_is_refused_before_it_is_read(client, inputs, tmp_path):
    with pytest.raises(AppError, match=rf"long\.mp4: 31 s long, more than the cap of {VIDEO_MAX_SECONDS:g} s"):
        client.predict(handle_file(str(inputs / "long.mp4")), 1.0, "rafdb", "", api_name="/video")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42 and then nothing")
    with pytest.raises(AppError, match=r"corrupt\.mp4: not a readable video"):
        client.predict(handle_file(str(corrupt)), 1.0, "rafdb", "", api_name="/video")


def test_the_default_candidates_are_the_model_configs_own(tiny_model_path, tmp_path):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny_model_path)
    five = ["happiness", "sadness", "anger", "surprise", "neutral"]
    config.candidate_labels = five
    model = tmp_path / "five-labels"
    shutil.copytree(tiny_model_path, model)
    config.save_pretrained(model)
    demo = build_demo(str(model), examples_dir=tmp_path / "examples", results_dir=tmp_path / "results")
    dropdowns = [c["props"] for c in demo.config["components"] if c["props"].get("label") == "Candidate labels"]
    assert len(dropdowns) == 4 and all(props["value"] == MODEL for props in dropdowns)  # every tab
    assert all(props["choices"][0][0] == f"This model's labels: {', '.join(five)}" for props in dropdowns)
    # Without candidate_labels in its config, the tabs default to the 8 canonical emotions.
    plain = build_demo(str(tiny_model_path), examples_dir=tmp_path / "examples", results_dir=tmp_path / "results")
    values = {c["props"]["value"] for c in plain.config["components"] if c["props"].get("label") == "Candidate labels"}
    own = getattr(AutoConfig.from_pretrained(tiny_model_path), "candidate_labels", None)
    assert values == {MODEL if own else "canonical"}
