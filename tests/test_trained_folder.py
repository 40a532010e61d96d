"""What ``unifer train`` saves from a UniFER folder loads as its users load it: with ``trust_remote_code=True``
where ``unifer`` is not installed (the Space and the model card's snippet), on the tiny random model."""

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("trl")
from datasets import Dataset  # noqa: E402
from transformers import AutoProcessor  # noqa: E402

from unifer.commands import main as cli  # noqa: E402
from unifer.data.synfer import iter_faces  # noqa: E402
from unifer.labels import CANONICAL_EMOTIONS  # noqa: E402
from unifer.modeling_unifer import UniFERForConditionalGeneration  # noqa: E402
from unifer.prompts import chat_messages, fer_question  # noqa: E402

RESPONSE = "<think>The mouth corners are raised.</think><answer>{}</answer>"
#: Run in a fresh interpreter where importing unifer fails, as on a machine without the package.
LOAD_WITHOUT_UNIFER = """
import importlib.abc, sys
class BlockUnifer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "unifer" or name.startswith("unifer."):
            raise ImportError("unifer is blocked in this test")
sys.meta_path.insert(0, BlockUnifer())
from transformers import AutoModelForImageTextToText
model = AutoModelForImageTextToText.from_pretrained(sys.argv[1], trust_remote_code=True)
assert type(model).__name__ == "UniFERForConditionalGeneration", type(model)
assert "transformers_modules" in type(model).__module__, type(model).__module__
print("REMOTE-OK")
"""


@pytest.fixture(scope="module")
def unifer_folder(tiny_model_path, tmp_path_factory):
    """The tiny checkpoint saved through the UniFER class: a folder with remote code and an ``auto_map``."""
    out = tmp_path_factory.mktemp("unifer")
    UniFERForConditionalGeneration.from_pretrained(tiny_model_path).save_pretrained(out)
    AutoProcessor.from_pretrained(tiny_model_path).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def cot_file(tmp_path_factory):
    faces = [(emotion, image) for _, emotion, image in iter_faces(1, seed=0, size=64)]
    question = fer_question(CANONICAL_EMOTIONS)
    path = tmp_path_factory.mktemp("data") / "cot.parquet"
    Dataset.from_dict(
        {
            "messages": [chat_messages(None, question, response=RESPONSE.format(emotion)) for emotion, _ in faces],
            "images": [[image] for _, image in faces],
        }
    ).to_parquet(path)
    return path


@pytest.mark.slow
def test_a_folder_trained_from_a_unifer_folder_loads_with_remote_code_without_unifer(
    unifer_folder, cot_file, tmp_path
):
    out = tmp_path / "sft"
    run = ["--model_name_or_path", str(unifer_folder), "--dataset_name", str(cot_file), "--output_dir", str(out)]
    assert cli(["train", "sft", "--config", "sft_tiny_cpu", *run]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"]["AutoModelForImageTextToText"] == "modeling_unifer.UniFERForConditionalGeneration"
    assert config["model_type"] == "qwen2_5_vl"  # still a Qwen2.5-VL checkpoint on disk
    for name in ("configuration_unifer.py", "modeling_unifer.py"):
        assert (out / name).is_file(), f"{name} missing: the auto_map names code the folder does not carry"
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LOAD_WITHOUT_UNIFER), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert "REMOTE-OK" in result.stdout, result.stderr[-3000:]
