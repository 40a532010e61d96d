"""Hub artifacts as their users consume them, each from a temporary folder holding only it: a model folder with its
card (the card's own snippet, as written), and dataset folders (``load_dataset``); plus what ``--push-to-hub`` and
``data build`` do around them. The metric and the Space: tests/test_fer_accuracy_metric.py and tests/test_space.py."""

import json
import re
import shutil
import subprocess
import sys
import textwrap

import datasets
import pytest
import yaml

from unifer.commands import main
from unifer.data import publish
from unifer.data.synfer import draw_face
from unifer.data.synfer_dataset import build_synfer
from unifer.inference import DEFAULT_MAX_NEW_TOKENS

EMOTIONS = ["happiness", "sadness", "anger", "neutral", "surprise"]


def card_yaml(folder):
    return yaml.safe_load((folder / "README.md").read_text().split("---")[1])


@pytest.fixture(scope="module")
def synfer_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifacts") / "synfer"
    build_synfer(out, n_per_class=2, test_per_class=2, size=32, emotions=EMOTIONS, num_proc=1)
    return out


# ---------------------------------------------------------------------------------------------------- datasets


def test_a_dataset_folder_alone_loads_with_load_dataset(synfer_folder, tmp_path):
    copy = shutil.copytree(synfer_folder, tmp_path / "only-the-dataset")
    default = datasets.load_dataset(str(copy), split="test", cache_dir=str(tmp_path / "cache"))
    assert default.config_name == "benchmark" and len(default) == 10  # the card's default config
    assert set(default.features["label"].names) == set(EMOTIONS)
    for config, split, rows in (("cot", "train", 10), ("rlvr", "train", 10)):
        assert len(datasets.load_dataset(str(copy), config, split=split, cache_dir=str(tmp_path / "cache"))) == rows


def test_an_empty_split_is_left_out_of_the_card_and_the_rest_loads(tmp_path, caplog):
    out = tmp_path / "synfer"
    result = build_synfer(out, n_per_class=1, test_per_class=0, size=32, emotions=EMOTIONS, num_proc=1)
    assert result["rows"]["benchmark"] == 0
    assert "benchmark/test" in caplog.text and "empty split" in caplog.text
    assert {c["config_name"] for c in card_yaml(out)["configs"]} == {"cot", "rlvr"}
    assert not (out / "benchmark").exists()
    assert len(datasets.load_dataset(str(out), "cot", split="train", cache_dir=str(tmp_path / "cache"))) == 5


def test_a_build_with_no_rows_at_all_writes_no_dataset_and_says_why(tmp_path):
    features = datasets.Features({"text": datasets.Value("string")})
    with publish.ShardWriter(tmp_path / "out", "only", "train", features) as writer:
        pass
    with pytest.raises(ValueError, match="only/train came out empty.*no dataset was written"):
        publish.write_card(tmp_path / "out", [writer.output], "only", "# nothing")
    assert not (tmp_path / "out").exists()


def test_data_build_refuses_a_non_empty_out_without_overwrite(tmp_path, capsys):
    out = tmp_path / "synfer"
    build = ["data", "build", "synfer", "--out", str(out), "--n-per-class", "1", "--size", "32", "--num-proc", "1"]
    assert main([*build, "--emotions", "happy", "sad"]) == 0
    assert "SynFER" in capsys.readouterr().err  # the progress bar
    (out / "notes.txt").write_text("mine")
    assert main([*build, "--emotions", "happy", "sad", "angry"]) == 2
    error = capsys.readouterr().err
    assert f"--out {out} is not empty" in error and "pass --overwrite" in error
    assert "Candidate labels: happiness, sadness." in (out / "README.md").read_text()  # untouched
    assert main([*build, "--emotions", "happy", "sad", "angry", "--overwrite"]) == 0
    assert "Candidate labels: happiness, sadness, anger." in (out / "README.md").read_text()
    assert (out / "notes.txt").read_text() == "mine"  # not the build's: left alone


def test_ingest_shows_progress_and_its_card_says_the_images_are_licensed(tmp_path, capsys):
    root = tmp_path / "faces"
    for emotion in ("happiness", "sadness"):
        (root / emotion).mkdir(parents=True)
        draw_face(emotion, seed=1, size=32).save(root / emotion / "a.png")
    assert main(["data", "ingest", "--images-root", str(root), "--out", str(tmp_path / "out")]) == 0
    assert "ingest: writing" in capsys.readouterr().err
    text = (tmp_path / "out" / "README.md").read_text()
    assert (
        "Licensed images" in text and "Access requests" in text and card_yaml(tmp_path / "out")["extra_gated_prompt"]
    )


class FakeHfApi:
    """Records what push_to_hub asks of the Hub (which is offline in tests)."""

    calls: list = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return type("Commit", (), {"commit_url": f"https://huggingface.co/datasets/{kwargs['repo_id']}/commit/1"})

    def upload_large_folder(self, **kwargs):
        self.calls.append(("upload_large_folder", kwargs["repo_id"], kwargs))


@pytest.fixture
def fake_hub(monkeypatch):
    FakeHfApi.calls = []
    monkeypatch.setattr("huggingface_hub.HfApi", FakeHfApi)
    return FakeHfApi.calls


def test_push_to_hub_is_private_unless_public_is_asked_for(synfer_folder, tmp_path, fake_hub, capsys):
    folder = shutil.copytree(synfer_folder, tmp_path / "synfer")
    build = ["data", "build", "synfer", "--n-per-class", "1", "--size", "32", "--num-proc", "1"]
    assert main([*build, "--out", str(tmp_path / "a"), "--push-to-hub", "me/a"]) == 0
    assert main([*build, "--out", str(tmp_path / "b"), "--push-to-hub", "me/b", "--public"]) == 0
    created = {repo: kwargs["private"] for call, repo, kwargs in fake_hub if call == "create_repo"}
    assert created == {"me/a": True, "me/b": False}
    assert "pushed (private)" in capsys.readouterr().out
    uploads = [kwargs for call, _, kwargs in fake_hub if call == "upload_folder"]
    assert all(publish.HUB_RECORD in kwargs["ignore_patterns"] for kwargs in uploads)  # the record stays local
    assert publish.pushed_repo(tmp_path / "a") == "me/a" and publish.pushed_repo(folder) is None


def test_a_big_folder_goes_up_with_upload_large_folder(synfer_folder, tmp_path, fake_hub, monkeypatch):
    monkeypatch.setattr(publish, "LARGE_FOLDER_BYTES", 1000)  # the test folder counts as big
    publish.push_to_hub(shutil.copytree(synfer_folder, tmp_path / "synfer"), "me/big")
    assert [call for call, *_ in fake_hub] == ["create_repo", "upload_large_folder"]


SCRIPT = """
import logging, sys, tempfile
logging.basicConfig(level=logging.INFO)
from unifer.data.synfer_dataset import build_synfer
result = build_synfer(tempfile.mkdtemp(), n_per_class=40, size=24, num_proc=2)
print("ROWS", result["rows"])
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script without a main guard", "python - (stdin)"])
def test_build_synfer_draws_in_parallel_from_any_script(tmp_path, how):
    """A user's three lines: no `if __name__ == "__main__":`, or piped to `python -`; 8 x 50 faces use the pool."""
    if how.startswith("script"):
        (tmp_path / "make_data.py").write_text(SCRIPT)
        command, stdin = [sys.executable, str(tmp_path / "make_data.py")], None
    else:
        command, stdin = [sys.executable, "-"], SCRIPT
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "drawing faces in 2 fork processes" in result.stderr
    assert "'benchmark': 80, 'cot': 320, 'rlvr': 320" in result.stdout


# ---------------------------------------------------------------------------------------------------- model card


@pytest.fixture(scope="module")
def eval_run(tiny_model_path, synfer_folder, tmp_path_factory):
    from unifer.configs import EvalConfig
    from unifer.evaluation import evaluate_model

    out = tmp_path_factory.mktemp("eval")
    evaluate_model(
        EvalConfig(
            model=str(tiny_model_path),
            benchmark=str(synfer_folder),
            output_dir=str(out),
            max_new_tokens=4,
            bootstrap=0,
        )
    )
    return out


def python_blocks(markdown: str) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", markdown, re.DOTALL))


@pytest.mark.slow
def test_the_model_folder_works_through_its_own_card(tiny_model_path, eval_run, synfer_folder, tmp_path, monkeypatch):
    """`unifer card` on a plain Qwen2.5-VL checkpoint, then the card's usage code run as written (the Hub id
    replaced by the folder) from a folder holding only the model."""
    model = shutil.copytree(tiny_model_path, tmp_path / "model")
    publish_record = {"repo_id": "me/synfer-bench", "private": True}
    (synfer_folder / publish.HUB_RECORD).write_text(json.dumps(publish_record))  # as --push-to-hub leaves it
    try:
        card = ["card", "--model", str(model), "--metrics", str(eval_run / "metrics.json"), "--name", "me/tiny-unifer"]
        assert main(card) == 2  # the tiny model's own README is there: never replaced without --overwrite
        assert main([*card, "--overwrite", "--train-dataset", str(synfer_folder)]) == 0
    finally:
        (synfer_folder / publish.HUB_RECORD).unlink()
    text = (model / "README.md").read_text()
    meta = card_yaml(model)
    [index] = meta["model-index"]
    assert {r["dataset"]["type"] for r in index["results"]} == {"me/synfer-bench"}  # where the data was pushed
    assert {r["dataset"]["name"] for r in index["results"]} == {"SynFER (synthetic) (benchmark)"}
    assert meta["datasets"] == ["me/synfer-bench"] and "base_model" not in meta  # no base model was given
    assert "10 items scored" in text and "FERBench" not in text
    assert "trained on synthetic data and evaluated on synthetic data" in text and "quickstart" not in text

    only_model = tmp_path / "user"
    only_model.mkdir()
    draw_face("happiness", seed=3).save(only_model / "face.jpg")
    monkeypatch.chdir(only_model)
    monkeypatch.setitem(DEFAULT_MAX_NEW_TOKENS, True, 8)  # the random model never stops on its own
    code = python_blocks(text)
    assert 'from_pretrained("me/tiny-unifer")' in code
    namespace: dict = {}
    exec(compile(code.replace("me/tiny-unifer", str(model)), "README.md", "exec"), namespace)
    assert sum(namespace["prediction"].probabilities.values()) == pytest.approx(1.0)


def test_the_card_states_only_what_it_was_given(tiny_model_path, eval_run, tmp_path):
    from unifer.model_card import build_card

    metrics = json.loads((eval_run / "metrics.json").read_text())
    unnamed = str(build_card(tiny_model_path, metrics))  # a bare dict: the benchmark is not known
    assert "a benchmark not named to `unifer card`" in unnamed and "model-index" not in unnamed
    assert "Base model: not given" in unnamed and "Training data: not given" in unnamed
    marked = str(build_card(tiny_model_path, None, synthetic=True, base_model="Qwen/Qwen2.5-VL-7B-Instruct"))
    assert "marked as trained or evaluated on synthetic data" in marked and "quickstart" not in marked
    assert "base_model: Qwen/Qwen2.5-VL-7B-Instruct" in marked
    with pytest.raises(ValueError, match="no such folder: nowhere"):
        build_card(tiny_model_path, metrics, benchmark="nowhere")


def test_trl_s_base_model_is_kept(tiny_model_path, tmp_path):
    from unifer.model_card import build_card

    model = shutil.copytree(tiny_model_path, tmp_path / "model")
    (model / "README.md").write_text(
        textwrap.dedent("""\
        ---
        base_model: Qwen/Qwen2.5-VL-3B-Instruct
        library_name: transformers
        ---
        # Model trained with TRL
    """)
    )
    assert "base_model: Qwen/Qwen2.5-VL-3B-Instruct" in str(build_card(model))
