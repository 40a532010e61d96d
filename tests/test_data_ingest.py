"""Folder / CSV ingest and the SynFER dataset build."""

import io
import json
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import datasets
import numpy as np
import pytest
import yaml
from PIL import Image

from unifer.answers import extract_label, is_well_formed
from unifer.commands import main
from unifer.data import synfer_dataset
from unifer.data.configs import IngestConfig
from unifer.data.ingest import ingest
from unifer.data.synfer import iter_faces
from unifer.prompts import fer_question


def load(folder, config, split, tmp_path):
    return datasets.load_dataset(str(folder), config, split=split, cache_dir=str(tmp_path / "cache"))


@pytest.fixture
def class_folders(tmp_path):
    """happy/ (2 PNG), Sad/ (1 JPEG), grumpy/ (1 PNG, not an emotion name) and a stray non-image file."""
    root = tmp_path / "mine"
    for folder, names in {"happy": ["a.png", "b.png"], "Sad": ["c.jpg"], "grumpy": ["d.png"]}.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            Image.new("RGB", (12, 12), "white").save(root / folder / name)
    (root / "happy" / "notes.txt").write_text("not an image")
    return root


def test_unknown_folder_names_are_listed_with_the_fix(class_folders, tmp_path, capsys):
    code = main(["data", "ingest", "--images-root", str(class_folders), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "['grumpy']" in err and "--label-map 'grumpy=<emotion>'" in err
    assert not (tmp_path / "out").exists()


def test_class_folders_become_a_ferbench_format_benchmark(class_folders, tmp_path):
    result = ingest(IngestConfig(class_folders, tmp_path / "out", label_map="grumpy=anger", name="mine"))
    candidates = ("happiness", "sadness", "anger")  # canonical order, only the emotions present
    assert result["candidates"] == candidates and result["rows"] == {"anger": 1, "happiness": 2, "sadness": 1}
    ds = load(tmp_path / "out", "mine", "test", tmp_path)
    assert ds["image_path"] == ["Sad/c.jpg", "grumpy/d.png", "happy/a.png", "happy/b.png"]
    assert [ds.features["label"].int2str(v) for v in ds["label"]] == ["sadness", "anger", "happiness", "happiness"]
    assert ds[0]["prompt"] == fer_question(candidates) and ds[0]["candidate_labels"] == list(candidates)
    assert ds[0]["image"].format == "JPEG" and ds[1]["image"].format == "PNG"
    assert "| happiness | 2 |" in (tmp_path / "out" / "README.md").read_text()


def test_csv_with_a_json_label_map_becomes_rlvr_rows(class_folders, tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("path,label\nhappy/a.png,joy\ngrumpy/d.png,cross\nSad/c.jpg,sad\n")
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"cross": "contempt"}))
    ingest(IngestConfig(class_folders, tmp_path / "out", csv=table, label_map=mapping, name="rl", format="rlvr"))
    ds = load(tmp_path / "out", "rl", "train", tmp_path)
    assert ds["solution"] == ["happiness", "contempt", "sadness"]
    assert ds[0]["candidate_labels"] == ["happiness", "sadness", "contempt"]
    assert ds[0]["prompt"][0]["content"][1]["text"] == fer_question(["happiness", "sadness", "contempt"])


def test_image_paths_are_written_relative_to_the_images_root(class_folders, tmp_path):
    # CSV rows spelled with a leading "/" and a "./": the rows keep paths relative to --images-root, so the folder
    # is portable (moved images root: the same rows resolve under the new root).
    table = tmp_path / "labels.csv"
    table.write_text("path,label\n/happy/a.png,happy\n./Sad/c.jpg,sad\n")
    ingest(IngestConfig(class_folders, tmp_path / "out", csv=table, name="mine"))
    paths = load(tmp_path / "out", "mine", "test", tmp_path)["image_path"]
    assert paths == ["happy/a.png", "Sad/c.jpg"]
    moved = class_folders.rename(tmp_path / "moved")
    for path in paths:
        assert not path.startswith("/") and (moved / path).resolve().is_relative_to(moved.resolve())
        assert (moved / path).is_file()


def test_a_csv_path_outside_the_images_root_is_refused(class_folders, tmp_path):
    (tmp_path / "outside.png").write_bytes((class_folders / "happy" / "a.png").read_bytes())
    table = tmp_path / "labels.csv"
    table.write_text("happy/a.png,happy\n../outside.png,happy\n")
    with pytest.raises(FileNotFoundError, match=r"1 of 2 images .*\.\./outside\.png \(outside --images-root\)"):
        ingest(IngestConfig(class_folders, tmp_path / "out", csv=table))
    assert not (tmp_path / "out").exists()


def test_csv_naming_a_missing_image_fails_before_writing(class_folders, tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("happy/a.png,happy\nhappy/gone.png,happy\n")
    with pytest.raises(FileNotFoundError, match=r"1 of 2 images .*gone\.png \(image_missing\)"):
        ingest(IngestConfig(class_folders, tmp_path / "out", csv=table))
    assert not (tmp_path / "out").exists()


def test_synfer_build_writes_three_marked_synthetic_configs(tmp_path):
    out = tmp_path / "synfer"
    result = synfer_dataset.build_synfer(
        out, n_per_class=3, test_per_class=2, seed=5, size=32, emotions=["sad", "happy", "anger"], num_proc=1
    )
    candidates = ("happiness", "sadness", "anger")
    assert result["rows"] == {"benchmark": 6, "cot": 9, "rlvr": 9} and result["faces_per_s"] > 0
    text = (out / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["synthetic"] is True and "SYNTHETIC" in text
    assert {c["config_name"] for c in meta["configs"]} == {"benchmark", "cot", "rlvr"}

    bench = load(out, "benchmark", "test", tmp_path)
    assert bench[0]["prompt"] == fer_question(candidates) and tuple(bench.features["label"].names) == candidates
    cot = load(out, "cot", "train", tmp_path)
    rlvr = load(out, "rlvr", "train", tmp_path)
    # The training faces are exactly synfer.iter_faces(seed=5) in canonical emotion order.
    for i, emotion, face in iter_faces(3, seed=5, size=32, emotions=candidates):
        response = cot[i]["messages"][1]["content"][0]["text"]
        assert is_well_formed(response) and extract_label(response, candidates) == emotion
        assert emotion not in response.split("<answer>")[0]  # the reasoning does not give the label away
        assert rlvr[i]["solution"] == emotion
        assert np.array_equal(np.asarray(rlvr[i]["image"].convert("RGB")), np.asarray(face))
    # Test faces come from another seed stream: none of them is a training face.
    train = {cot[i]["images"][0].tobytes() for i in range(9)}
    assert not train & {bench[i]["image"].tobytes() for i in range(6)}


@pytest.mark.parametrize("start_method", ["fork", "spawn"])  # Linux's, and macOS's and Windows'
def test_synfer_faces_drawn_in_worker_processes_are_identical(start_method):
    jobs = synfer_dataset.stream_jobs(("happiness", "fear"), 2, 0, 24)
    sequential = list(synfer_dataset.render(jobs, None))
    with ProcessPoolExecutor(2, mp_context=get_context(start_method)) as pool:
        assert list(synfer_dataset.render(jobs, pool)) == sequential
    assert Image.open(io.BytesIO(sequential[0])).size == (24, 24)
