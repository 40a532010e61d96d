"""Training as it runs for real: several processes under ``accelerate launch`` (CPU, gloo), and a run killed with
SIGKILL after a checkpoint that resumes to the same weights as an uninterrupted run, bit for bit.

Each run is ``tests/train_with_probes.py`` (``unifer train`` plus parameter hashes and a kill switch) in its own
process on the tiny model, so the tests see what a user's command does: the launcher, the process group, the
checkpoint files on disk.
"""

import ast
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from safetensors.torch import load_file

from unifer.data.synfer import iter_faces
from unifer.labels import CANONICAL_EMOTIONS
from unifer.prompts import chat_messages, fer_question

pytestmark = pytest.mark.slow
PROBED_TRAIN = str(Path(__file__).with_name("train_with_probes.py"))
QUESTION = fer_question(CANONICAL_EMOTIONS)
# GRPO needs rewards that vary across a random model's completions for a non-zero update (probe_length).
STAGE_ARGS = {
    "sft": ["--config", "sft_tiny_cpu"],
    "grpo": [
        "--config",
        "grpo_tiny_cpu",
        "--temperature",
        "1.5",
        "--reward_funcs",
        "accuracy",
        "format",
        "probe_length",
    ],
}


@pytest.fixture(scope="module")
def datasets_dir(tmp_path_factory):
    """The CoT and RLVR shapes, one SynFER face per emotion (8 rows each), as Parquet files."""
    folder = tmp_path_factory.mktemp("data")
    faces = [(emotion, image) for _, emotion, image in iter_faces(1, seed=0, size=64)]
    Dataset.from_dict(
        {
            "messages": [
                chat_messages(None, QUESTION, response=f"<think>x</think><answer>{emotion}</answer>")
                for emotion, _ in faces
            ],
            "images": [[image] for _, image in faces],
        }
    ).to_parquet(folder / "sft.parquet")
    Dataset.from_dict(
        {
            "prompt": [chat_messages(None, QUESTION) for _ in faces],
            "image": [image for _, image in faces],
            "solution": [emotion for emotion, _ in faces],
            "candidate_labels": [list(CANONICAL_EMOTIONS)] * len(faces),
        }
    ).to_parquet(folder / "grpo.parquet")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command, hashes: Path, log: Path, kill_after_save: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "UNIFER_PROBE_HASH_DIR": str(hashes), "OMP_NUM_THREADS": "1"}
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    if kill_after_save is not None:
        env["UNIFER_PROBE_KILL_AFTER_SAVE"] = str(kill_after_save)
    return subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, log: Path, expected: int = 0) -> str:
    assert process.wait(timeout=300) == expected, log.read_text()[-3000:]
    return log.read_text()


def train_command(stage, model, data_dir, output_dir, *extra):
    return [
        PROBED_TRAIN,
        stage,
        *STAGE_ARGS[stage],
        *("--model_name_or_path", str(model), "--dataset_name", str(data_dir / f"{stage}.parquet")),
        *("--output_dir", str(output_dir), "--use_cpu", "true", "--disable_tqdm", "true", *extra),
    ]


def logged(output: str) -> list[dict]:
    """The metrics dicts the run printed (``disable_tqdm`` prints each log line), as numbers."""
    entries = [ast.literal_eval(line) for line in output.splitlines() if line.startswith("{'")]
    return [{key: float(value) for key, value in entry.items()} for entry in entries]


def digests(folder: Path) -> dict[tuple[int, int], str]:
    """``(rank, step) -> parameter hash`` written by the probe."""
    found = {}
    for path in folder.glob("rank*-step*.sha256"):
        rank, step = path.stem.removeprefix("rank").split("-step")
        found[int(rank), int(step)] = path.read_text()
    return found


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_two_processes_train_in_step_and_log_once(stage, tiny_model_path, datasets_dir, tmp_path):
    """``accelerate launch --num_processes 2`` on a CPU (torchrun + gloo): both ranks hold identical parameters
    after every step, the parameters move, the loss is finite, and metrics are logged once, not once per rank."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_port", str(free_port())]
    log = tmp_path / "train.log"
    command = [*launch, *train_command(stage, tiny_model_path, datasets_dir, tmp_path / "out")]
    output = finish(start(command, tmp_path / "hashes", log), log)

    hashes = digests(tmp_path / "hashes")
    assert set(hashes) == {(rank, step) for rank in (0, 1) for step in (0, 1, 2)}
    assert all(hashes[0, step] == hashes[1, step] for step in (0, 1, 2))  # the replicas never drift apart
    assert len({hashes[0, step] for step in (0, 1, 2)}) == 3  # every step updated them
    steps = [entry for entry in logged(output) if "loss" in entry]
    assert len(steps) == 2 and all(math.isfinite(entry["loss"]) for entry in steps)
    if stage == "sft":  # 8 rows, 2 per process per step: both processes' shards make one epoch in 2 steps
        assert [entry["epoch"] for entry in steps] == [0.5, 1.0]
    else:
        assert all("fer/format_rate" in entry and "rewards/probe_length_reward/mean" in entry for entry in steps)
    assert output.count("saved model and processor to") == 1


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_a_killed_run_resumes_to_the_uninterrupted_weights_bit_for_bit(stage, tiny_model_path, datasets_dir, tmp_path):
    """Four steps with a checkpoint every two. One run goes through; a second is SIGKILLed as soon as checkpoint-2
    is on disk, then resumed with --resume_from_checkpoint last: its final weights equal the first run's exactly
    (CPU, one thread: the same operations in the same order)."""
    schedule = ["--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2"]
    runs = {name: tmp_path / name for name in ("through", "killed", "resumed")}
    through = start(
        [sys.executable, *train_command(stage, tiny_model_path, datasets_dir, tmp_path / "through", *schedule)],
        runs["through"],
        tmp_path / "through.log",
    )
    killed = start(
        [sys.executable, *train_command(stage, tiny_model_path, datasets_dir, tmp_path / "out", *schedule)],
        runs["killed"],
        tmp_path / "killed.log",
        kill_after_save=2,
    )
    finish(killed, tmp_path / "killed.log", expected=-signal.SIGKILL)
    assert (tmp_path / "out" / "checkpoint-2").is_dir() and not (tmp_path / "out" / "model.safetensors").exists()
    resumed = start(
        [
            sys.executable,
            *train_command(stage, tiny_model_path, datasets_dir, tmp_path / "out", *schedule),
            *("--resume_from_checkpoint", "last"),
        ],
        runs["resumed"],
        tmp_path / "resumed.log",
    )
    finish(through, tmp_path / "through.log")
    output = finish(resumed, tmp_path / "resumed.log")
    assert "missing keys" not in output

    first, killed_hashes, second = (digests(runs[name]) for name in ("through", "killed", "resumed"))
    assert killed_hashes[0, 2] == first[0, 2]  # the kill came after step 2 was saved
    assert second[0, 2] == first[0, 2]  # the resumed run starts from checkpoint-2's weights ...
    assert [second[0, step] for step in (3, 4)] == [first[0, step] for step in (3, 4)]  # ... and steps as the first
    expected, actual = (load_file(folder / "model.safetensors") for folder in (tmp_path / "through", tmp_path / "out"))
    assert expected.keys() == actual.keys() and all(torch.equal(expected[key], actual[key]) for key in expected)
