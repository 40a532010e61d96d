"""README's model and prediction snippets, run as written on a plain Qwen2.5-VL folder (the tiny model, which
``unifer.tiny.build_tiny_unifer`` writes as ``model_type: qwen2_5_vl``, like UniFER-7B and ``unifer train``)."""

import json
import re

import pytest
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging as transformers_logging

from unifer.data.synfer import draw_face
from unifer.inference import DEFAULT_MAX_NEW_TOKENS
from unifer.labels import CANONICAL_EMOTIONS

from .support import REPO

PUBLISHED = "Karl28/UniFER-7B"


def readme_section_code(title: str) -> str:
    """The python code blocks of one README section, joined in order."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```python\n(.*?)```", section, re.DOTALL))


def test_the_model_snippets_run_on_a_plain_qwen2_5_vl_folder(tiny_model_path, tmp_path, monkeypatch):
    assert json.loads((tiny_model_path / "config.json").read_text())["model_type"] == "qwen2_5_vl"
    code = readme_section_code("The model and prediction API")
    assert PUBLISHED in code and "UniFERForConditionalGeneration.from_pretrained" in code
    for name, emotion in (("face.jpg", "happiness"), ("a.jpg", "sadness"), ("b.png", "anger")):
        draw_face(emotion, seed=1).save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    # The random model never stops on its own: a short budget keeps the test fast without changing the code path.
    monkeypatch.setitem(DEFAULT_MAX_NEW_TOKENS, True, 24)
    namespace: dict = {}
    with CaptureLogger(transformers_logging.get_logger("transformers.configuration_utils")) as log:
        exec(compile(code.replace(PUBLISHED, str(tiny_model_path)), "README.md", "exec"), namespace)
    assert "to instantiate a model of type" not in log.out
    prediction = namespace["p"]
    assert list(prediction.probabilities) == list(CANONICAL_EMOTIONS)  # the default candidates
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    assert type(namespace["model"]).__name__ == "UniFERForConditionalGeneration"
