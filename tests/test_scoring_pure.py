"""``metrics/scoring.py`` is pure functions on lists: reading prediction files lives in
``metrics/prediction_files.py``. And ``paired_lift``, checked against hand computation and against the exact
distribution of its paired bootstrap."""

import ast
from math import comb
from pathlib import Path

import numpy as np
import pytest

from unifer.metrics import prediction_files, scoring
from unifer.metrics.scoring import paired_lift

METRICS = Path(__file__).resolve().parents[1] / "metrics"
# What reading files takes: modules that open or list them, and the calls that do.
FILE_MODULES = {"pathlib", "json", "os", "io", "glob", "shutil", "importlib", "unifer.jsonl"}
FILE_CALLS = {"open", "read_text", "read_bytes", "iterdir", "glob", "rglob", "is_file", "is_dir", "exists"}


def file_access(path: Path) -> tuple[set[str], set[str]]:
    """(file-handling modules imported, file-handling calls made) in a module's source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    imported = {m for m in modules if m in FILE_MODULES or m.split(".")[0] in FILE_MODULES - {"unifer"}}
    return imported, called & FILE_CALLS


def test_scoring_reads_no_files():
    imported, called = file_access(METRICS / "scoring.py")
    assert not imported and not called, f"scoring.py touches files: imports {imported}, calls {called}"


def test_the_file_check_sees_what_prediction_files_does():
    """The same check finds the reading in prediction_files.py, so it would find it in scoring.py too."""
    imported, called = file_access(METRICS / "prediction_files.py")
    assert {"json", "pathlib", "unifer.jsonl"} <= imported and {"read_text", "is_dir", "is_file"} <= called
    for name in ("load_predictions", "read_prediction_records", "prediction_columns", "paired_correctness"):
        assert callable(getattr(prediction_files, name)) and not hasattr(scoring, name)


def test_paired_lift_by_hand():
    # Item by item: unchanged right, fixed, fixed, broken, unchanged right -> changes 0, +1, +1, -1, 0.
    lift = paired_lift([True, False, False, True, True], [True, True, True, False, True])
    assert (lift["n"], lift["fixed"], lift["broken"]) == (5, 2, 1)
    assert lift["lift"] == pytest.approx(1 / 5)
    # Every item fixed: every resample's mean change is 1; nothing changed: every one is 0.
    assert paired_lift([False] * 3, [True] * 3)["ci95"] == [1.0, 1.0]
    assert paired_lift([True, False], [True, False]) == {
        "lift": 0.0,
        "ci95": [0.0, 0.0],
        "n": 2,
        "fixed": 0,
        "broken": 0,
    }


def exact_interval(n: int, fixed: int, broken: int) -> tuple[float, float]:
    """2.5% and 97.5% quantiles of the paired bootstrap's mean change, from its exact distribution: each of the n
    resampled items is a fixed one (+1) with probability fixed/n, a broken one (-1) with broken/n, else 0."""
    p, q = fixed / n, broken / n
    pmf: dict[int, float] = {}
    for x in range(n + 1):
        for y in range(n + 1 - x):
            weight = comb(n, x) * comb(n - x, y) * p**x * q**y * (1 - p - q) ** (n - x - y)
            pmf[x - y] = pmf.get(x - y, 0.0) + weight
    values = sorted(pmf)
    cdf = np.cumsum([pmf[v] for v in values])
    low = values[int(np.searchsorted(cdf, 0.025))]
    high = values[int(np.searchsorted(cdf, 0.975))]
    return low / n, high / n


def test_paired_lift_interval_is_the_paired_bootstrap():
    """40 items: 20 right before, of which 1 broken; 4 of the 20 wrong ones fixed. The paired interval is about
    ±0.11 around +0.075; resampling before and after independently would give about ±0.22."""
    before = [i < 20 for i in range(40)]
    after = [(i < 20 and i != 0) or 20 <= i < 24 for i in range(40)]
    lift = paired_lift(before, after, seed=3)
    assert (lift["fixed"], lift["broken"], lift["lift"]) == (4, 1, pytest.approx(3 / 40))
    low, high = exact_interval(40, 4, 1)
    step = 1 / 40  # the support's spacing: a sampled percentile may land on a neighbouring value
    assert lift["ci95"][0] == pytest.approx(low, abs=step) and lift["ci95"][1] == pytest.approx(high, abs=step)
    assert high - low < 0.3


def test_paired_lift_refuses_unpaired_input():
    with pytest.raises(ValueError, match="pair them item by item"):
        paired_lift([True, False], [True])
    with pytest.raises(ValueError, match="empty"):
        paired_lift([], [])
