"""Quiet by default: what training saves makes no warning at prediction time, and loading a model shows no
progress bar (tiny random model, synthetic SynFER faces)."""

import json
import subprocess
import sys
import warnings

import pytest

pytest.importorskip("trl")
from datasets import Dataset  # noqa: E402

from unifer.commands import main as cli  # noqa: E402
from unifer.data.synfer import draw_face, iter_faces  # noqa: E402
from unifer.inference import predict  # noqa: E402
from unifer.labels import CANONICAL_EMOTIONS  # noqa: E402
from unifer.prompts import chat_messages, fer_question  # noqa: E402

QUESTION = fer_question(CANONICAL_EMOTIONS)
RESPONSE = "<think>The mouth corners are raised.</think><answer>{}</answer>"


@pytest.fixture(scope="module")
def trained_folders(tiny_model_path, tmp_path_factory):
    """Two steps of SFT (its recipe truncates at max_length 512), then two of GRPO from the SFT folder."""
    root = tmp_path_factory.mktemp("trained")
    faces = [(emotion, image) for _, emotion, image in iter_faces(1, seed=0, size=64)]
    Dataset.from_dict(
        {
            "messages": [chat_messages(None, QUESTION, response=RESPONSE.format(emotion)) for emotion, _ in faces],
            "images": [[image] for _, image in faces],
        }
    ).to_parquet(root / "cot.parquet")
    Dataset.from_dict(
        {
            "prompt": [chat_messages(None, QUESTION) for _ in faces],
            "image": [image for _, image in faces],
            "solution": [emotion for emotion, _ in faces],
            "candidate_labels": [list(CANONICAL_EMOTIONS)] * len(faces),
        }
    ).to_parquet(root / "rlvr.parquet")
    sft = ["--model_name_or_path", str(tiny_model_path), "--dataset_name", str(root / "cot.parquet")]
    assert cli(["train", "sft", "--config", "sft_tiny_cpu", *sft, "--output_dir", str(root / "sft")]) == 0
    grpo = ["--model_name_or_path", str(root / "sft"), "--dataset_name", str(root / "rlvr.parquet")]
    assert cli(["train", "grpo", "--config", "grpo_tiny_cpu", *grpo, "--output_dir", str(root / "grpo")]) == 0
    return root


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_trained_folders_keep_no_truncation_length_and_predict_without_a_max_length_warning(stage, trained_folders):
    folder = trained_folders / stage
    assert "max_length" not in json.loads((folder / "tokenizer_config.json").read_text())
    assert json.loads((folder / "tokenizer.json").read_text())["truncation"] is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [prediction] = predict(folder, draw_face("happiness", 0, size=64), max_new_tokens=4)
    assert prediction.raw_text is not None
    messages = [str(warning.message) for warning in caught]
    assert not [message for message in messages if "max_length" in message], messages


def synfer_benchmark(folder):
    from unifer.data.synfer_dataset import build_synfer

    build_synfer(folder, n_per_class=1, test_per_class=1, size=32, emotions=["happiness", "sadness"], num_proc=1)
    return folder


@pytest.mark.slow
def test_eval_loads_the_model_without_a_progress_bar_unless_verbose(tiny_model_path, tmp_path):
    # A fresh `unifer` process each time, as a user runs it: transformers' bars are process-wide state that other
    # tests in this process may have switched off.
    benchmark = synfer_benchmark(tmp_path / "bench")
    run = ["--model", str(tiny_model_path), "--benchmark", str(benchmark), "--max-new-tokens", "2", "--limit", "1"]

    def stderr_of(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "unifer.commands", *args], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert "Loading weights" not in stderr_of("eval", *run, "--bootstrap", "0", "--output_dir", str(tmp_path / "q"))
    assert "Loading weights" in stderr_of("-v", "eval", *run, "--bootstrap", "0", "--output_dir", str(tmp_path / "v"))
