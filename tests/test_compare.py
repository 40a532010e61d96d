"""``unifer compare``: two runs of the same items, paired. Expected figures are counted by hand from the records
written here; the interval is the quickstart's lift (``paired_lift`` of ``paired_correctness``)."""

import json
import re

import pytest

from unifer.commands import main
from unifer.metrics.prediction_files import paired_correctness
from unifer.metrics.scoring import mcnemar_exact, paired_lift

LABELS = ["anger", "fear"]


def write_run(folder, right):
    """A run folder whose item i is answered right when ``right[i]``."""
    folder.mkdir()
    with (folder / "predictions.jsonl").open("w") as handle:
        for i, correct in enumerate(right):
            gold = LABELS[i % 2]
            answer = gold if correct else LABELS[(i + 1) % 2]
            record = {
                "id": f"face-{i:02d}",
                "subset": "synfer",
                "label": gold,
                "candidate_labels": LABELS,
                "response": f"<think>x</think><answer>{answer}</answer>",
                "parsed_label": answer,
            }
            handle.write(json.dumps(record) + "\n")
    return folder


@pytest.fixture
def runs(tmp_path):
    # A right on items 0-5 (6/10), B on items 2-9 (8/10): fixed 6, 7, 8, 9; broken 0, 1.
    a = write_run(tmp_path / "run-a", [i < 6 for i in range(10)])
    b = write_run(tmp_path / "run-b", [i >= 2 for i in range(10)])
    return a, b


@pytest.mark.parametrize(
    ("fixed", "broken", "expected"),
    [
        (8, 2, 2 * (1 + 10 + 45) / 1024),  # C(10,0) + C(10,1) + C(10,2), both tails
        (4, 2, 2 * (1 + 6 + 15) / 64),
        (5, 0, 2 / 32),
        (3, 3, 1.0),  # the most even split: the doubled tail passes 1
        (0, 0, 1.0),  # nothing changed: no evidence either way
    ],
)
def test_mcnemar_exact_by_hand(fixed, broken, expected):
    assert mcnemar_exact(fixed, broken) == pytest.approx(expected)
    assert mcnemar_exact(broken, fixed) == pytest.approx(expected)


def test_compare_prints_the_paired_figures(runs, capsys):
    a, b = runs
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "10 items in both runs" in out
    assert f"A  {a}: accuracy 0.6000 (6/10)" in out and f"B  {b}: accuracy 0.8000 (8/10)" in out
    assert "B - A: +0.2000" in out
    assert "fixed (wrong in A, right in B): 4; broken (right in A, wrong in B): 2" in out
    assert f"p = {2 * 22 / 64:.4g}" in out  # 0.6875


def test_compare_equals_the_quickstarts_lift(runs, capsys):
    """The quickstart's lift is paired_lift over paired_correctness of its two evaluation folders, defaults
    included: compare prints the same difference and interval."""
    a, b = runs
    lift = paired_lift(*paired_correctness(a, b))
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    low, high = lift["ci95"]
    assert f"B - A: {lift['lift']:+.4f}, 95% paired-bootstrap interval [{low:+.4f}, {high:+.4f}]" in out
    assert low < lift["lift"] < high


def test_compare_refuses_runs_of_different_items(runs, tmp_path, capsys):
    a, _ = runs
    other = write_run(tmp_path / "run-c", [True] * 4)
    assert main(["compare", str(a), str(other)]) == 2
    assert "different faces" in capsys.readouterr().err


def test_score_on_overlapping_runs_says_why_and_points_to_compare(runs, capsys):
    a, b = runs
    assert main(["score", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"face-00 \({re.escape(str(a))}/predictions.jsonl record 1 and {re.escape(str(b))}", err)
    assert "counted twice" in err and "unifer compare RUN_A RUN_B" in err
