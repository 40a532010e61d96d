"""torch's CPU thread count for inference (``unifer.inference.set_cpu_threads``): an explicit count, else
``OMP_NUM_THREADS``'s, else half the CPUs the process may use; set when an engine loads a model onto the CPU, left to
the caller when the model comes loaded. The throughput it buys is benchmarks/bench_threads.py's."""

import os

import pytest
import torch

from unifer.inference import TransformersEngine, set_cpu_threads


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("usable", "expected"), [(1, 1), (2, 1), (3, 1), (8, 4), (64, 32)])
def test_half_the_usable_cpus(monkeypatch, usable, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(usable)), raising=False)
    assert set_cpu_threads() == expected
    assert torch.get_num_threads() == expected


def test_an_explicit_count_wins_and_omp_num_threads_is_respected(monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert set_cpu_threads() == 1 and torch.get_num_threads() == 1  # torch's count (it read the variable) stays
    assert set_cpu_threads(2) == 2 and torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="num_threads must be at least 1"):
        set_cpu_threads(0)


def test_engines_set_threads_only_for_models_they_load(monkeypatch, tiny_model_path):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    torch.set_num_threads(2)
    engine = TransformersEngine(str(tiny_model_path))  # loaded here, onto the CPU: the policy's 3
    assert torch.get_num_threads() == 3
    torch.set_num_threads(2)
    TransformersEngine(engine.model, engine.processor)  # a loaded model: the caller's setting stays
    assert torch.get_num_threads() == 2
    TransformersEngine(engine.model, engine.processor, num_threads=1)
    assert torch.get_num_threads() == 1
