"""A run is the same run however its paths are spelled; ``unifer card`` states only results of the model it is for
(tiny random model, SynFER faces)."""

import json
import os
import shutil

import pytest

from unifer.commands import main
from unifer.data.synfer_dataset import build_synfer

FAST = ["--max-new-tokens", "2", "--bootstrap", "0"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    build_synfer(out, n_per_class=1, test_per_class=1, size=48, emotions=["anger", "fear"], num_proc=1)
    return out


@pytest.fixture(scope="module")
def run(tiny_model_path, bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert (
        main(["eval", "--model", str(tiny_model_path), "--benchmark", str(bench), "--output-dir", str(out), *FAST])
        == 0
    )
    return out


def test_a_trailing_slash_or_a_relative_path_resumes_the_same_run(tiny_model_path, bench, run, monkeypatch, capsys):
    monkeypatch.chdir(tiny_model_path.parent)
    relative_model = os.path.relpath(tiny_model_path) + "/"
    relative_bench = os.path.relpath(bench, tiny_model_path.parent)
    argv = ["eval", "--model", relative_model, "--benchmark", relative_bench, "--output-dir", str(run), *FAST]
    assert main(argv) == 0, capsys.readouterr().err
    settings = json.loads((run / "run.json").read_text())
    assert settings["model"] == str(tiny_model_path.resolve()) and settings["benchmark"] == str(bench.resolve())


def test_card_refuses_metrics_of_another_model(tiny_model_path, run, tmp_path, capsys):
    other = tmp_path / "other-model"
    shutil.copytree(tiny_model_path, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "candidate_labels": ["anger", "fear"]}))
    recorded = json.loads((run / "run.json").read_text())["model_fingerprint"]
    card = tmp_path / "card.md"
    status = main(["card", "--model", str(other), "--metrics", str(run / "metrics.json"), "--out", str(card)])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert f"records {str(tiny_model_path.resolve())!r} with model fingerprint {recorded}" in err
    assert f"while {other} has fingerprint " in err and not card.exists()


def test_card_of_the_evaluated_model_is_written(tiny_model_path, run, tmp_path):
    out = tmp_path / "README.md"
    assert (
        main(["card", "--model", str(tiny_model_path), "--metrics", str(run / "metrics.json"), "--out", str(out)]) == 0
    )
    assert "## Results" in out.read_text()


def test_card_refuses_a_missing_model_folder(run, tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    assert main(["card", "--model", str(missing), "--metrics", str(run / "metrics.json")]) == 2
    assert f"no such folder: {missing} (--model" in capsys.readouterr().err
    assert not missing.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"rows": 3}', "is not a metrics.json of unifer eval or unifer score"),
    ],
)
def test_card_names_the_metrics_file_it_cannot_read(tiny_model_path, tmp_path, capsys, content, message):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(content)
    argv = ["card", "--model", str(tiny_model_path), "--metrics", str(metrics), "--out", str(tmp_path / "card.md")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(metrics) in err and message in err and len(err.strip().splitlines()) == 1


def test_an_eval_output_folder_as_benchmark_is_named(tiny_model_path, run, tmp_path, capsys):
    argv = ["eval", "--model", str(tiny_model_path), "--benchmark", str(run), "--output-dir", str(tmp_path / "x")]
    assert main([*argv, *FAST]) == 2
    err = capsys.readouterr().err
    assert f"{run} is a unifer eval output folder (it holds predictions.jsonl), not a benchmark" in err
    assert "unifer data build ferbench|synfer" in err and len(err.strip().splitlines()) == 1


def test_a_training_set_as_benchmark_is_named(tiny_model_path, bench, tmp_path, capsys):
    argv = ["eval", "--model", str(tiny_model_path), "--benchmark", str(bench), "--config", "rlvr"]
    assert main([*argv, "--output-dir", str(tmp_path / "x"), *FAST]) == 2
    err = capsys.readouterr().err
    [error] = [line for line in err.splitlines() if "error" in line]  # datasets' progress bars aside
    assert error.startswith("unifer eval: error: ") and f"{bench} (rlvr) has no test split, only train" in error


def test_space_with_a_missing_model_folder_says_so(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert main(["space", "--model", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"unifer space: error: no such folder: {missing} (--model)"
