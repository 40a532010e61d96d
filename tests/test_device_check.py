"""benchmarks/device_check.py's dry run, through its wrapper, as on the GPU machine: ``python3`` without unifer
installed (no site processing, so the editable install's finder is absent), unifer from the checkout."""

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig

import pytest

from .support import REPO

SCRIPT = REPO / "benchmarks" / "device_check.py"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """PATH and PYTHONPATH for a ``python3`` that sees the venv's packages but not the installed ``unifer``."""
    bin_dir = tmp_path_factory.mktemp("bin")
    python3 = bin_dir / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    python3.chmod(0o755)
    site = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(sorted(site)),
        "UNIFER_WHEELS": str(bin_dir),  # holds no wheels: a checkout's .whl/ (for the GPU machine) is not installed
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


@pytest.fixture(scope="module")
def dry_run(bare_python, tmp_path_factory):
    out = tmp_path_factory.mktemp("device_check")
    wrapper = REPO / "benchmarks" / "device_check.sh"
    proc = subprocess.run(
        ["bash", str(wrapper), "--dry-run", "--out", str(out)],
        env=bare_python,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads((out / "device_check.json").read_text()), (out / "device_check.md").read_text(), proc.stdout


def test_unifer_is_not_installed_for_the_bare_python(bare_python):
    """The premise of the dry run below: only the script's checkout finder can import unifer there."""
    proc = subprocess.run(["python3", "-c", "import unifer"], env=bare_python, capture_output=True, text=True)
    assert proc.returncode != 0 and "No module named 'unifer'" in proc.stderr


@pytest.mark.slow  # the dry run (the module's fixture) costs over 20 s of CPU
def test_dry_run_imports_unifer_from_the_checkout(dry_run):
    report, _, _ = dry_run
    assert report["unifer_from"] == str(REPO / "modeling_unifer")
    assert report["dry_run"] and report["environment"]["device"]["device"] == "cpu"


@pytest.mark.slow  # the dry run (the module's fixture) costs over 20 s of CPU
def test_dry_run_measures_every_part(dry_run):
    report, _, _ = dry_run
    parts, sizes = report["parts"], report["sizes"]
    assert list(parts) == ["inference", "sft", "grpo", "agreement"]
    assert not [key for key, part in parts.items() if "error" in part]

    inference = parts["inference"]
    single = inference["per_sample_fp32"]
    assert single["batch_size"] == 1 and single["items"] == single["of_items"] == sizes["items"]
    assert [side["batch_size"] for side in inference["batched_bf16"]] == sizes["batch_sizes"]
    for side in inference["batched_bf16"]:
        assert side["items"] == sizes["items"] and side["items_per_s"] > 0
        # The speed-up is the batch-1 loop's time per item over the batch's, from the seconds each side timed (the
        # rates and the speed-up are both derived from them; seconds are rounded to 1 ms, hence the tolerance).
        per_item = single["seconds"] / single["items"], side["seconds"] / side["items"]
        assert inference["speedup"][str(side["batch_size"])] == pytest.approx(per_item[0] / per_item[1], rel=0.05)

    for stage in ("sft", "grpo"):
        part = parts[stage]
        assert part["steps"] == len(part["step_s"]) == len(part["losses"]) == sizes["train_steps"]
        assert part["losses_finite"] and all(seconds > 0 for seconds in part["step_s"])
    assert len(parts["grpo"]["mean_rewards"]) == sizes["train_steps"]

    agreement = parts["agreement"]
    assert agreement["float32"] == {"items": sizes["items"], "identical_rate": 1.0, "mean_shared_prefix": 1.0}
    assert 0 <= agreement["bfloat16"]["identical_rate"] <= agreement["bfloat16"]["mean_shared_prefix"] <= 1


@pytest.mark.slow  # the dry run (the module's fixture) costs over 20 s of CPU
def test_dry_run_summary_is_written_and_printed(dry_run):
    _, summary, stdout = dry_run
    for heading in ("## a) Inference", "## b) SFT", "## b) GRPO", "## c) Greedy outputs"):
        assert heading in summary
    assert "Failed" not in summary and summary.strip() in stdout


@pytest.mark.slow
def test_a_failing_part_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    device_check = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "device_check", device_check)  # its dataclasses look their module up
    spec.loader.exec_module(device_check)

    def out_of_memory(run):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setitem(device_check.PARTS, "inference", out_of_memory)
    status = device_check.main(["--dry-run", "--out", str(tmp_path), "--parts", "inference", "agreement"])
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert status == 1
    assert report["parts"]["inference"]["error"] == "RuntimeError: CUDA out of memory (simulated)"
    assert "error" not in report["parts"]["agreement"]
    assert "**Failed** after" in (tmp_path / "device_check.md").read_text()
