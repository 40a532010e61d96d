"""Shared pytest fixtures. Everything runs offline: nothing is fetched from the Hugging Face Hub."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """Folder holding the tiny random Qwen2.5-VL test model (built once per session, seed 0)."""
    from unifer.tiny import build_tiny_unifer

    return build_tiny_unifer(tmp_path_factory.mktemp("tiny_unifer"), seed=0)
