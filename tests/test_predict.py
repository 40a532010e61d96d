"""``unifer predict`` on a folder of real photos (a group scene, the astronaut, a face-free temple, a sideways phone
photo with EXIF orientation, bad files) and a short video written here with PyAV from real-photo frames in which
two faces cross; a SIGKILL mid-run and a resume; the tiny random model reads the faces (its labels mean nothing:
what is checked is which rows are written, their boxes and face numbers)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unifer.commands import main
from unifer.jsonl import read_records

from .faces_photos import (
    VIDEO_RATE,
    VIDEO_SECONDS,
    astronaut,
    crossing_faces,
    iou,
    jpeg_with_orientation,
    no_face_photo,
    three_faces,
    write_video,
)

READ_FPS = 2
TIMES = [i / READ_FPS for i in range(VIDEO_SECONDS * READ_FPS)]
EMOTIONS = ["happiness", "sadness", "neutral"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """photos/ (group.jpg: 3 faces; astronaut.png: 1; temple.png: none; phone.jpg: the group stored sideways with
    EXIF orientation 6; broken.jpg; empty.png; notes.txt) and clips/crossing.mp4 (2 faces, 12 frames at 2 fps)."""
    root = tmp_path_factory.mktemp("inputs")
    photos = root / "photos"
    photos.mkdir()
    scene, _ = three_faces()
    scene.save(photos / "group.jpg", quality=95)
    astronaut().save(photos / "astronaut.png")
    no_face_photo().save(photos / "temple.png")
    (photos / "phone.jpg").write_bytes(jpeg_with_orientation(6, scene.transpose(Image.Transpose.ROTATE_90)))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (photos / "empty.png").write_bytes(b"")
    (photos / "notes.txt").write_text("not a photo")
    (root / "clips").mkdir()
    write_video(root / "clips" / "crossing.mp4")
    return root


#: Rows each unit must give: faces found by construction (an error or no-face unit gives one row).
EXPECTED_ROWS = {"group.jpg": 3, "astronaut.png": 1, "temple.png": 1, "phone.jpg": 3, "broken.jpg": 1, "empty.png": 1}


def predict_args(folder: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [
        "predict",
        str(folder),
        "--out",
        str(out),
        "--model",
        str(model),
        "--candidate-labels",
        *EMOTIONS,
        "--fps",
        str(READ_FPS),
        "--max-new-tokens",
        "24",
        *extra,
    ]


def check_rows(rows: list[dict]) -> None:
    """Every expected row exactly once, with boxes where they were put and face numbers that follow the person."""
    keys = Counter((Path(r["source"]).name, r["time_s"], r["face"]) for r in rows)
    assert max(keys.values()) == 1, [key for key, n in keys.items() if n > 1]
    by_file = Counter(Path(r["source"]).name for r in rows)
    assert by_file == {**EXPECTED_ROWS, "crossing.mp4": 2 * len(TIMES)}, by_file
    named = {Path(r["source"]).name: r for r in rows if r["time_s"] is None}
    assert named["temple.png"]["face"] is None and named["temple.png"]["faces"] == 0
    assert "broken.jpg: not a readable image" in named["broken.jpg"]["error"]
    assert "empty.png: empty file (0 bytes)" in named["empty.png"]["error"]
    _, group_boxes = three_faces()
    for name in ("group.jpg", "phone.jpg"):  # the phone photo's boxes are in displayed (upright) pixels
        found = sorted((r for r in rows if r["source"].endswith(name)), key=lambda r: r["face"])
        assert [r["face"] for r in found] == [0, 1, 2]
        assert all(iou(box, r["box"]) > 0.5 for box, r in zip(group_boxes, found)), (name, found)
    numbers = {"astronaut": set(), "grace": set()}
    for row in (r for r in rows if r["time_s"] is not None):
        _, (box_a, box_b) = crossing_faces(row["time_s"])
        person = "astronaut" if iou(box_a, row["box"]) > 0.5 else "grace" if iou(box_b, row["box"]) > 0.5 else None
        assert person, row
        numbers[person].add(row["face"])
        assert row["probabilities"] and set(row["probabilities"]) == set(EMOTIONS)
    # Each person keeps one number from the first frame to the last, though their left-to-right order swaps.
    assert len(numbers["astronaut"]) == 1 and len(numbers["grace"]) == 1 and numbers["astronaut"] != numbers["grace"]


@pytest.mark.slow
def test_a_killed_run_resumes_and_writes_every_row_once(folder, tiny_model_path, tmp_path):
    out = tmp_path / "rows.jsonl"
    command = [sys.executable, "-m", "unifer.commands", *predict_args(folder, out, tiny_model_path)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 6:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed: " + process.stdout.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    written_before = len(read_records(out))
    assert 6 <= written_before < sum(EXPECTED_ROWS.values()) + 2 * len(TIMES)
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "already done before this run" in finished.stdout
    check_rows(read_records(out))
    assert "2 files could not be read" in finished.stdout and "skipped 1 files" in finished.stdout


def test_csv_no_detect_and_caps(folder, tiny_model_path, tmp_path, capsys):
    photos = tmp_path / "crops"
    photos.mkdir()
    astronaut().crop((140, 40, 290, 190)).save(photos / "face.png")
    (photos / "corrupt.mp4").write_bytes(os.urandom(2048))
    (photos / "long.mp4").symlink_to(folder / "clips" / "crossing.mp4")
    out = tmp_path / "rows.csv"
    args = predict_args(photos, out, tiny_model_path, "--no-detect", "--max-seconds", "5")
    assert main(args) == 0
    printed = capsys.readouterr().out
    with out.open(newline="", encoding="utf-8") as handle:
        rows = {Path(row["source"]).name: row for row in csv.DictReader(handle)}
    assert set(rows) == {"face.png", "corrupt.mp4", "long.mp4"}
    face = rows["face.png"]
    assert json.loads(face["box"]) == [0, 0, 150, 150] and face["detected"] == "False" and face["face"] == "0"
    assert set(json.loads(face["probabilities"])) == set(EMOTIONS)
    assert "corrupt.mp4: not a readable video" in rows["corrupt.mp4"]["error"]
    assert "long.mp4: 6 s long, more than the cap of 5 s" in rows["long.mp4"]["error"]
    assert "2 files could not be read" in printed


def test_bad_options_are_refused_naming_them(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "--out", str(tmp_path / "rows.txt"), "--model", "m"]) == 2
    assert "--out must name a .jsonl or .csv file" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), "--out", str(tmp_path / "r.jsonl"), "--model", "m", "--fps", "0"]) == 2
    assert "--fps must be positive" in capsys.readouterr().err


def test_a_video_gives_frames_at_the_asked_rate_within_the_caps(folder):
    from unifer.video import VideoInputError, sample_frames

    frames = list(sample_frames(folder / "clips" / "crossing.mp4", fps=READ_FPS))
    assert [t for t, _ in frames] == pytest.approx(TIMES, abs=1 / VIDEO_RATE)
    first = np.asarray(frames[0][1], dtype=float)
    assert first.shape == (480, 640, 3)
    assert np.abs(first - np.asarray(crossing_faces(0)[0], dtype=float)).mean() < 12  # the frame that was written
    with pytest.raises(VideoInputError, match=r"crossing\.mp4: 12 frames at 2 fps, more than the cap of 10"):
        list(sample_frames(folder / "clips" / "crossing.mp4", fps=READ_FPS, max_frames=10))


def test_an_opencv_without_cascades_is_named_before_the_model_loads(tmp_path, monkeypatch, capsys):
    import types

    import unifer.faces

    monkeypatch.setitem(sys.modules, "cv2", types.SimpleNamespace(__version__="5.1.0"))  # as the 5.x wheels are
    monkeypatch.setattr(unifer.faces, "_CASCADE_CLASSIFIER", None)
    args = ["predict", str(tmp_path), "--out", str(tmp_path / "rows.jsonl"), "--model", str(tmp_path / "no-model")]
    assert main(args) == 2
    assert "pip install 'opencv-python-headless>=4.9,<5'" in capsys.readouterr().err
