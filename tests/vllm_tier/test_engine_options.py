"""What the vLLM engine's options become inside real vLLM: each engine is resolved by vLLM's own ``EngineArgs`` into
the ``VllmConfig`` that ``vllm.LLM`` would run with (the model's context, the KV cache it claims, the dtype), without
starting vLLM's processes. Expected values come from the model folder's config.json and from vLLM's CPU rule for its
KV cache, not from the engine."""

import json

import psutil
import pytest
import torch

from unifer.vllm_engine import VLLMEngine

GiB = 2**30
SHORT = {"max_model_len": 2048}  # within the model's context whatever the default is, so each test shows one thing


def resolved(engine: VLLMEngine):
    """The ``VllmConfig`` real vLLM derives from what the engine would pass to ``vllm.LLM``."""
    from vllm import EngineArgs

    return EngineArgs(**engine.llm_kwargs).create_engine_config()


def claimed_kv_cache_bytes(config) -> float:
    """The memory vLLM's CPU worker takes for its KV cache (vllm/v1/worker/cpu_worker.py): the explicit size when
    there is one, else ``gpu_memory_utilization`` of the machine's RAM."""
    cache = config.cache_config
    return cache.kv_cache_memory_bytes or psutil.virtual_memory().total * cache.gpu_memory_utilization


def test_default_context_is_the_models_own(vllm_model_path):
    own = json.loads((vllm_model_path / "config.json").read_text())["text_config"]["max_position_embeddings"]
    assert resolved(VLLMEngine(str(vllm_model_path))).model_config.max_model_len == own == 4096


def test_a_shorter_context_is_kept(vllm_model_path):
    assert resolved(VLLMEngine(str(vllm_model_path), max_model_len=1024)).model_config.max_model_len == 1024


def test_on_a_cpu_the_kv_cache_is_bounded_not_most_of_the_ram(vllm_model_path, monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)  # the engine's own default, not the tier's setting
    config = resolved(VLLMEngine(str(vllm_model_path), **SHORT))
    assert claimed_kv_cache_bytes(config) == 4 * GiB  # docs/performance.md: 4 GiB on a CPU unless told otherwise


def test_vllms_own_cpu_setting_still_wins(vllm_model_path, monkeypatch):
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    assert claimed_kv_cache_bytes(resolved(VLLMEngine(str(vllm_model_path), **SHORT))) == 1 * GiB


def test_a_given_memory_share_reaches_vllm(vllm_model_path, monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    config = resolved(VLLMEngine(str(vllm_model_path), gpu_memory_utilization=0.05, **SHORT))
    assert config.cache_config.gpu_memory_utilization == 0.05
    assert claimed_kv_cache_bytes(config) == pytest.approx(0.05 * psutil.virtual_memory().total)


@pytest.mark.parametrize("dtype", [None, "auto"])
def test_auto_dtype_is_float32_on_a_cpu(vllm_model_path, dtype):
    engine = VLLMEngine(str(vllm_model_path), **SHORT, **({} if dtype is None else {"dtype": dtype}))
    assert resolved(engine).model_config.dtype == torch.float32
    assert engine.dtype == "float32"  # what run.json records


def test_a_named_dtype_is_kept(vllm_model_path):
    engine = VLLMEngine(str(vllm_model_path), dtype=torch.bfloat16, **SHORT)
    assert resolved(engine).model_config.dtype == torch.bfloat16 and engine.dtype == "bfloat16"


@pytest.mark.parametrize("enforce_eager", [False, True])
def test_enforce_eager_reaches_vllm(vllm_model_path, enforce_eager):
    config = resolved(VLLMEngine(str(vllm_model_path), enforce_eager=enforce_eager, **SHORT))
    assert config.model_config.enforce_eager is enforce_eager


def test_unifer_info_reads_vllm_installed_as_vllm_cpu(capsys):
    import vllm

    from unifer.commands import main
    from unifer.environment import package_versions

    assert package_versions()["vllm"] == f"{vllm.__version__} (vllm-cpu)"
    assert main(["info"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.split()[0] == "vllm"]
    assert line.split()[1:] == [vllm.__version__, "(vllm-cpu)"]
