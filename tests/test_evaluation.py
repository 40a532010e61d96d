"""`unifer eval` end to end on a SynFER benchmark built like FERBench, with the tiny model."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from unifer.answers import extract_label
from unifer.commands import main
from unifer.configs import EvalConfig
from unifer.data.synfer_dataset import build_synfer
from unifer.evaluation import evaluate_model
from unifer.jsonl import read_records, write_records
from unifer.metrics.prediction_files import load_predictions
from unifer.metrics.scoring import score

from .test_scoring import official_extract

EVAL_ARGS = dict(max_new_tokens=12, bootstrap=200)  # config: the benchmark card's default (SynFER: benchmark)


def evaluate(model, benchmark, output_dir, **options):
    """``evaluate_model`` with EVAL_ARGS, overridden by ``options``."""
    config = EvalConfig(model=str(model), benchmark=str(benchmark), output_dir=str(output_dir), **EVAL_ARGS | options)
    return evaluate_model(config)


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    out = tmp_path_factory.mktemp("synfer_bench")
    build_synfer(
        out,
        n_per_class=1,
        test_per_class=2,
        size=64,
        emotions=["happiness", "sadness", "anger", "neutral", "surprise"],
        num_proc=1,
    )
    return out


@pytest.fixture(scope="module")
def reference_run(tiny_model_path, benchmark, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_ref")
    result = evaluate(tiny_model_path, benchmark, out, batch_size=8, probabilities=True)
    return out, result


def records(path):
    """Predictions without their timing, which is the only field allowed to differ between runs."""
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in path.read_text().splitlines()]


def test_eval_writes_every_artefact(reference_run):
    out, result = reference_run
    for name in (
        "predictions.jsonl",
        "metrics.json",
        "report.md",
        "run.json",
        "confusion_synfer.png",
        "confusion_overall.png",
    ):
        assert (out / name).exists(), name
    lines = records(out / "predictions.jsonl")
    assert len(lines) == 10 and len({r["id"] for r in lines}) == 10
    first = lines[0]
    assert {"id", "subset", "label", "response", "parsed_label", "well_formed", "probabilities"} <= first.keys()
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    assert json.loads((out / "metrics.json").read_text())["accuracy"] == result["accuracy"]
    Image.open(out / "confusion_overall.png").verify()


def test_batch_size_does_not_change_predictions_or_metrics(tiny_model_path, benchmark, reference_run, tmp_path):
    out, result = reference_run
    single = evaluate(tiny_model_path, benchmark, tmp_path, batch_size=1, probabilities=True)
    assert records(tmp_path / "predictions.jsonl") == records(out / "predictions.jsonl")
    assert single == result


def test_score_command_equals_in_run_metrics(reference_run, tmp_path, capsys):
    out, result = reference_run
    assert main(["score", str(out / "predictions.jsonl"), "--bootstrap", "200", "--output-dir", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads((out / "metrics.json").read_text())
    assert f"{result['accuracy']:.4f}" in capsys.readouterr().out


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_file(tiny_model_path, benchmark, reference_run, tmp_path):
    out, _ = reference_run
    command = [
        sys.executable,
        "-m",
        "unifer.commands",
        "eval",
        "--model",
        str(tiny_model_path),
        "--benchmark",
        str(benchmark),
        "--config",
        "benchmark",
        "--max-new-tokens",
        "12",
        "--bootstrap",
        "200",
        "--batch-size",
        "2",
        "--probabilities",
        "--output-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    predictions = tmp_path / "predictions.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if predictions.exists() and len(predictions.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run finished before it could be killed; the test needs a slower run"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = len(read_records(predictions))
    assert 0 < killed_at < 10
    with predictions.open("a") as handle:  # as if the kill had landed mid-line
        handle.write('{"id": "synfer-000')
    assert main(command[3:]) == 0
    assert records(predictions) == records(out / "predictions.jsonl")


def test_changed_settings_refuse_to_mix(tiny_model_path, benchmark, reference_run):
    out, _ = reference_run
    with pytest.raises(ValueError, match="max_new_tokens.*--overwrite"):
        evaluate(tiny_model_path, benchmark, out, max_new_tokens=5)


@pytest.mark.slow
def test_overwrite_starts_over(tiny_model_path, benchmark, tmp_path):
    evaluate(tiny_model_path, benchmark, tmp_path, limit=1)
    result = evaluate(tiny_model_path, benchmark, tmp_path, limit=1, overwrite=True, max_new_tokens=4)
    assert result["n"] == 1  # one subset ("synfer"), first item
    assert all(r["num_tokens"] <= 4 for r in records(tmp_path / "predictions.jsonl"))


def test_paper_extraction_rescores_the_same_predictions(reference_run, tmp_path):
    """A run's predictions file rescored in paper mode: the figures the official evaluator (its transcription in
    test_scoring.py; SynFER has no synonym table) gives on the same responses. The tiny model's responses are
    noise (all 'unknown'), so four are replaced by answers on which the two extractions differ."""
    out, _ = reference_run
    rows = read_records(out / "predictions.jsonl")
    assert [row["label"] for row in rows[:4]] == ["neutral", "happiness", "sadness", "surprise"]
    answers = [
        "<answer>neutral</answer>",
        "I see happiness.",
        "<answer>not sadness</answer>",
        "<answer>anger</answer>",
    ]
    for row, response in zip(rows, answers):
        row.update(response=response, parsed_label=extract_label(response, row["candidate_labels"]))
    path = write_records(tmp_path / "predictions.jsonl", rows)
    official = [official_extract(row["response"], row["candidate_labels"], {}) for row in rows]
    assert official[:4] == ["neutral", "happiness", "sadness", "anger"] and set(official[4:]) == {"unknown"}

    paper = score(**load_predictions(path), extraction="paper", bootstrap=0)
    assert paper["extraction"] == "paper" and paper["n"] == len(rows) == 10
    assert paper["accuracy"] == 0.3 and paper["unknowns"] == 6  # rows 0-2 right, row 3 wrong, six unknown
    overall = paper["overall"]
    assert (
        overall["confusion_matrix"]
        == confusion_matrix([r["label"] for r in rows], official, labels=overall["confusion_labels"]).tolist()
    )
    strict = score(**load_predictions(path), bootstrap=0)
    assert strict["accuracy"] == 0.1 and strict["unparsed_count"] == 8  # only row 0 is a strict answer


def test_unknown_subset_is_a_clear_error(tiny_model_path, benchmark, tmp_path):
    with pytest.raises(ValueError, match="rafdb.*synfer"):
        evaluate(tiny_model_path, benchmark, tmp_path, subsets=["rafdb"])


def test_model_card_carries_the_results(reference_run, tiny_model_path, tmp_path):
    out, result = reference_run
    card = tmp_path / "README.md"
    assert (
        main(
            [
                "card",
                "--model",
                str(tiny_model_path),
                "--metrics",
                str(out / "metrics.json"),
                "--synthetic",
                "--base-model",
                "Qwen/Qwen2.5-VL-7B-Instruct",
                "--name",
                "unifer/tiny-test",
                "--out",
                str(card),
            ]
        )
        == 0
    )
    text = card.read_text()
    assert "model-index:" in text and "base_model: Qwen/Qwen2.5-VL-7B-Instruct" in text
    assert "pipeline_tag: image-text-to-text" in text and "Synthetic data" in text
    assert f"{result['accuracy']:.4f}" in text


@pytest.mark.slow
def test_two_process_accelerate_run_shards_and_merges(tiny_model_path, benchmark, reference_run, tmp_path):
    """`accelerate launch --num_processes 2 -m unifer.commands eval` on CPU: each rank writes its own shard, rank 0
    merges them into the same predictions an unsharded run makes."""
    out, result = reference_run
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--cpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "unifer.commands",
        "eval",
        "--model",
        str(tiny_model_path),
        "--benchmark",
        str(benchmark),
        "--config",
        "benchmark",
        "--max-new-tokens",
        "12",
        "--bootstrap",
        "200",
        "--probabilities",
        "--output-dir",
        str(tmp_path),
    ]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert not list(tmp_path.glob("predictions.rank*.jsonl"))  # merged and removed
    assert records(tmp_path / "predictions.jsonl") == records(out / "predictions.jsonl")
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] == result["accuracy"]


# ------------------------------------------------------------------ predictions are never lost or silently reused


def test_a_narrower_rerun_scores_its_selection_and_keeps_every_prediction(
    tiny_model_path, benchmark, reference_run, tmp_path
):
    out, _ = reference_run
    for name in ("predictions.jsonl", "run.json"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    narrow = evaluate(tiny_model_path, benchmark, tmp_path, limit=5, probabilities=True)
    assert narrow["n"] == 5
    assert all(c["support"] == 1 for c in narrow["overall"]["per_class"].values())  # spread over the classes
    assert len(records(tmp_path / "predictions.jsonl")) == 10  # nothing deleted
    kept = {r["id"]: r for r in records(tmp_path / "predictions.jsonl")}
    assert kept == {r["id"]: r for r in records(out / "predictions.jsonl")}  # nothing regenerated either
    report = (tmp_path / "selection" / "report.md").read_text()  # the selection's own figures, beside the folder's
    assert " 5 items " in report and "| limit | `5` |" in report and "| predictions_in_folder | `10` |" in report
    assert json.loads((tmp_path / "selection" / "metrics.json").read_text())["n"] == 5
    whole = json.loads((tmp_path / "metrics.json").read_text())
    assert whole["n"] == 10 and whole == json.loads((out / "metrics.json").read_text())  # the folder's stay whole
    assert "· 10 items" in (tmp_path / "report.md").read_text()


def test_changed_benchmark_data_is_refused(tiny_model_path, reference_run, tmp_path):
    out, _ = reference_run
    rebuilt = tmp_path / "rebuilt"
    build_synfer(
        rebuilt,
        n_per_class=1,
        test_per_class=2,
        size=64,
        seed=7,
        num_proc=1,
        emotions=["happiness", "sadness", "anger", "neutral", "surprise"],
    )
    run = tmp_path / "run"
    run.mkdir()
    for name in ("predictions.jsonl", "run.json"):
        (run / name).write_bytes((out / name).read_bytes())
    settings = json.loads((run / "run.json").read_text())
    settings["benchmark"] = str(rebuilt)  # same name, other data: only the fingerprint can tell
    (run / "run.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="benchmark_fingerprint"):
        evaluate(tiny_model_path, rebuilt, run, probabilities=True)


def test_a_run_that_failed_before_predicting_blocks_nothing(tiny_model_path, benchmark, tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"model": "a-typo", "max_new_tokens": 3}))
    result = evaluate(tiny_model_path, benchmark, tmp_path, limit=2)
    assert result["n"] == 2
    assert json.loads((tmp_path / "run.json").read_text())["model"] == str(tiny_model_path)


def test_user_errors_are_caught_before_the_model_loads(tiny_model_path, benchmark, tmp_path, capsys, monkeypatch):
    import unifer.inference

    monkeypatch.setattr(unifer.inference, "load_engine", lambda *a, **k: pytest.fail("the model was loaded"))
    base = ["eval", "--model", str(tiny_model_path), "--benchmark", str(benchmark), "--output-dir", str(tmp_path)]
    assert main([*base, "--batch-size", "0"]) == 2
    assert "unifer eval: error: --batch-size must be at least 1 (got 0)." in capsys.readouterr().err
    assert main(["eval", "--model", str(tiny_model_path), "--benchmark", "nope", "--output-dir", str(tmp_path)]) == 2
    assert "no such folder: nope (--benchmark;" in capsys.readouterr().err
    assert main([*base[:2], "./no-model-here", *base[3:]]) == 2
    assert "no such folder: ./no-model-here (--model)" in capsys.readouterr().err
    assert main([*base, "--tensor-parallel-size", "2"]) == 2
    assert "need --backend vllm" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was started


def test_a_missing_optional_dependency_names_the_extra(monkeypatch, capsys):
    import unifer.evaluation

    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'datasets'", name="datasets")

    monkeypatch.setattr(unifer.evaluation, "evaluate_model", missing)
    assert main(["eval", "--model", "m", "--benchmark", "b", "--output-dir", "o"]) == 2
    err = capsys.readouterr().err
    assert "`unifer eval` needs pip install 'unifer[" in err and "(missing: datasets)" in err


def test_report_says_what_a_reader_needs(reference_run):
    out, _ = reference_run
    report = (out / "report.md").read_text()
    assert report.startswith("# FER evaluation: ") and " on " in report.splitlines()[0]
    assert " UTC · strict extraction · 10 items · runtime " in report
    assert "**overall** is micro accuracy" in report and "**errors**" in report and "(macro)" in report
    assert "## Output length (tokens)" in report
    assert "## Examples of failed responses" in report  # a random tiny model fails often
    assert "## Per class: overall" in report and "## Run config" in report


def test_score_accepts_a_run_folder_and_refuses_overlapping_ids(reference_run, tmp_path, capsys):
    out, result = reference_run
    assert main(["score", str(out), "--bootstrap", "200"]) == 0
    assert f"{result['accuracy']:.4f}" in capsys.readouterr().out
    lines = (out / "predictions.jsonl").read_text().splitlines()
    (tmp_path / "part.jsonl").write_text("\n".join(lines[:3]) + "\n")
    assert main(["score", str(out / "predictions.jsonl"), str(tmp_path / "part.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "3 id(s) appear more than once" in err and "part.jsonl" in err
