"""The vLLM engine where a CPU cannot show it: several GPUs (tensor parallel) and several processes (data parallel,
one engine per rank on its own GPUs). A fake ``vllm`` module stands in for vLLM there and records what reaches
``vllm.LLM``. Everything a CPU can show (generation, candidate probabilities, chunks, resume, the engine's defaults as
vLLM resolves them) runs against real vLLM in tests/vllm_tier (`make test-vllm`)."""

import importlib.machinery
import os
import re
import sys
import types
from dataclasses import dataclass

import pytest
from PIL import Image

from unifer.data.synfer import draw_face
from unifer.inference import FERRequest, load_engine, make_requests
from unifer.labels import SUBSET_LABELS
from unifer.vllm_engine import VLLMEngine, rank_devices

RAF = SUBSET_LABELS["rafdb"]


@dataclass
class FakeCompletion:
    text: str
    token_ids: list[int]


@dataclass
class FakeOutput:
    outputs: list[FakeCompletion]


class FakeLLM:
    """Records its constructor's arguments, the environment it was created in and every ``generate`` call.

    Generation answers ``question N`` (the request's own prompt; else the prompt's position) with reasoning naming
    item N."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        self.calls = []
        FakeLLM.instances.append(self)

    def generate(self, inputs, sampling_params, use_tqdm=True):
        self.calls.append((list(inputs), sampling_params))
        outputs = []
        for position, item in enumerate(inputs):
            numbered = re.search(r"question (\d+)", item["prompt"])
            n = int(numbered.group(1)) if numbered else position
            text = f"<think>item {n}</think><answer>{RAF[n % len(RAF)]}</answer>"
            outputs.append(FakeOutput([FakeCompletion(text, list(range(n + 1)))]))
        return outputs


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.__spec__ = importlib.machinery.ModuleSpec("vllm", None)  # find_spec works; no distribution metadata
    module.LLM, module.SamplingParams = FakeLLM, FakeSamplingParams
    FakeLLM.instances = []
    monkeypatch.setitem(sys.modules, "vllm", module)
    for name in ("WORLD_SIZE", "LOCAL_WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    return FakeLLM


def numbered_requests(count: int) -> list[FERRequest]:
    """Requests whose own prompt names their index, each with its own face."""
    faces = make_requests([draw_face(RAF[i % len(RAF)], i, 64) for i in range(count)], RAF)
    return [FERRequest(r.image, r.candidate_labels, prompt=f"question {i}") for i, r in enumerate(faces)]


def test_request_building_without_vllm(tiny_model_path):
    engine = VLLMEngine(str(tiny_model_path))  # vLLM itself is imported only when generating
    [request] = make_requests([draw_face("anger", 0)], RAF)
    [vllm_input] = engine.build_inputs([request])
    assert vllm_input["prompt"].count("<|image_pad|>") == 1
    assert vllm_input["prompt"].endswith("<|im_start|>assistant\n")
    assert request.question in vllm_input["prompt"]
    assert isinstance(vllm_input["multi_modal_data"]["image"], Image.Image)
    assert vllm_input["multi_modal_data"]["image"].size == (224, 224)


def test_options_reach_vllm_llm_through_load_engine(fake_vllm, tiny_model_path):
    engine = load_engine(
        "vllm",
        str(tiny_model_path),
        tensor_parallel_size=2,
        gpu_memory_utilization=0.55,
        max_model_len=4096,
        dtype="float32",
        seed=7,
    )
    engine.generate(numbered_requests(1), max_new_tokens=5)
    [llm] = fake_vllm.instances
    assert llm.kwargs == {
        "model": str(tiny_model_path),
        "tensor_parallel_size": 2,
        "dtype": "float32",
        "enforce_eager": False,
        "gpu_memory_utilization": 0.55,
        "max_model_len": 4096,
        "seed": 7,
        "limit_mm_per_prompt": {"image": 1},
        "trust_remote_code": False,
    }


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"dtype": "float8"}, "dtype='float8' is not supported by the vllm backend; use one of auto, bfloat16"),
        ({"tensor_parallel_size": 0}, "tensor_parallel_size must be at least 1"),
        ({"gpu_memory_utilization": 1.5}, r"in \(0, 1\]"),
        ({"max_model_len": 0}, "max_model_len must be a positive"),
    ],
)
def test_bad_options_fail_before_anything_loads(option, message, tmp_path):
    # tmp_path holds no model: the error must come from the option, not from loading the processor.
    with pytest.raises(ValueError, match=message):
        VLLMEngine(str(tmp_path), **option)


def test_unifer_eval_options_and_chunks_reach_vllm(fake_vllm, tiny_model_path, tmp_path):
    """`unifer eval --backend vllm …`: every engine option reaches `vllm.LLM`, and the pending items reach vLLM in
    one call (fewer than a chunk), not per batch; every item is written once."""
    from unifer.commands import main
    from unifer.data.synfer_dataset import build_synfer
    from unifer.jsonl import read_records

    build_synfer(tmp_path / "bench", n_per_class=1, test_per_class=5, size=64, num_proc=1)  # 8 emotions x 5
    # fmt: off
    status = main([
        "eval", "--model", str(tiny_model_path), "--benchmark", str(tmp_path / "bench"), "--config", "benchmark",
        "--output-dir", str(tmp_path / "run"), "--backend", "vllm", "--batch-size", "2", "--max-new-tokens", "6",
        "--bootstrap", "10", "--dtype", "float32", "--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.6",
        "--max-model-len", "3072", "--enforce-eager",
    ])
    # fmt: on
    assert status == 0
    [llm] = fake_vllm.instances
    options = ("dtype", "tensor_parallel_size", "gpu_memory_utilization", "max_model_len", "enforce_eager")
    assert {key: llm.kwargs[key] for key in options} == {
        "dtype": "float32",
        "tensor_parallel_size": 2,
        "gpu_memory_utilization": 0.6,
        "max_model_len": 3072,
        "enforce_eager": True,
    }
    [(inputs, params)] = llm.calls
    assert len(inputs) == 40 <= VLLMEngine.preferred_chunk_size and params.kwargs["max_tokens"] == 6
    assert len(list(read_records(tmp_path / "run" / "predictions.jsonl"))) == 40


def test_each_rank_of_a_multi_process_launch_gets_its_own_gpus(fake_vllm, tiny_model_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    VLLMEngine(str(tiny_model_path), tensor_parallel_size=2).llm  # noqa: B018  (creates the LLM)
    assert fake_vllm.instances[0].visible_devices == "6,7"


@pytest.mark.parametrize(
    ("environ", "tp", "expected"),
    [
        ({}, 4, None),  # one process: vLLM takes the visible GPUs itself
        ({"WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "4", "LOCAL_RANK": "2", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}, 1, "2"),
        ({"WORLD_SIZE": "2", "LOCAL_RANK": "0", "CUDA_VISIBLE_DEVICES": "3, 1, 2, 0"}, 2, "3,1"),
    ],
)
def test_rank_devices(environ, tp, expected):
    assert rank_devices(tp, environ) == expected


def test_too_few_gpus_for_the_launch_is_refused_with_the_fix():
    environ = {"WORLD_SIZE": "2", "LOCAL_RANK": "0", "CUDA_VISIBLE_DEVICES": "0,1,2"}
    with pytest.raises(ValueError, match="2 processes × tensor_parallel_size 2 need 4 GPUs, but 3 are visible"):
        rank_devices(2, environ)


@pytest.mark.parametrize(("overrides", "heads", "head_size"), [({}, 4, 16), ({"head_dim": 32}, 2, 32)])
def test_tiny_model_head_size_for_vllm(overrides, heads, head_size):
    """vLLM's CPU attention has no kernel for the default tiny model's head size (64 / 4 heads = 16); head_dim=32
    gives 64 / 2 heads (the tier's model) and leaves the default alone."""
    from unifer.tiny import build_tokenizer, tiny_config

    text = tiny_config(build_tokenizer(), **overrides).text_config
    assert (text.num_attention_heads, text.hidden_size // text.num_attention_heads) == (heads, head_size)
    with pytest.raises(ValueError, match="head_dim=48 needs hidden_size=64"):
        tiny_config(build_tokenizer(), head_dim=48)


def test_no_requests_start_nothing(tiny_model_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # importing vLLM would fail: nothing may try
    assert VLLMEngine(str(tiny_model_path)).generate([]) == []


def test_missing_vllm_says_how_to_install_it(tiny_model_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError
    engine = VLLMEngine(str(tiny_model_path))
    with pytest.raises(ImportError, match=r"pip install 'unifer\[vllm\]'"):
        engine.generate(numbered_requests(1))


def test_predict_forwards_engine_options(fake_vllm, tiny_model_path):
    from unifer.inference import predict

    predict(
        str(tiny_model_path),
        [draw_face("fear", 0)],
        RAF,
        backend="vllm",
        engine_kwargs={"tensor_parallel_size": 2, "max_model_len": 2048},
        probabilities=False,
        max_new_tokens=4,
    )
    assert fake_vllm.instances[0].kwargs["tensor_parallel_size"] == 2
    assert fake_vllm.instances[0].kwargs["max_model_len"] == 2048
