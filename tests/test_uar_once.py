"""Macro precision/recall/F1 and UAR have one definition (``unifer.metrics.scoring.macro_averages``), the same in
strict and paper mode and in the fer_accuracy Hub metric. Expected values are computed by hand in the comments."""

import evaluate
import pytest

from unifer.metrics.scoring import score

from .support import REPO

ONE_RIGHT = ["<think>Mouth corners up.</think><answer>happy</answer>"]


@pytest.mark.parametrize("extraction", ["strict", "paper"])
def test_one_right_item_has_macro_recall_and_uar_one(extraction):
    # One item, gold happiness, answered happiness, eight candidates: the only class that occurs is happiness,
    # recall 1/1, precision 1/1. Before, strict macro recall averaged all 8 candidates: 1/8 = 0.125.
    r = score(ONE_RIGHT, ["happiness"], extraction=extraction, bootstrap=0)
    assert (r["macro_precision"], r["macro_recall"], r["macro_f1"], r["uar"]) == (1.0, 1.0, 1.0, 1.0)


def test_three_classes_with_a_class_predicted_but_never_gold():
    # Candidates happiness, sadness, anger, fear. Gold / answer:
    #   happiness/happiness, happiness/sadness, sadness/sadness, anger/fear, anger/(hedge: unparsed)
    # Classes that occur (gold or predicted, unparsed not a class): happiness, sadness, anger, fear.
    #   happiness: P 1/1, R 1/2, F1 2/3;  sadness: P 1/2, R 1/1, F1 2/3;  anger: P 0 (never predicted), R 0/2, F1 0;
    #   fear: P 0/1, R 0 (no gold), F1 0.
    # macro P = 1.5/4, macro R = 1.5/4, macro F1 = (4/3)/4 = 1/3; UAR over gold classes = (1/2 + 1 + 0)/3 = 1/2.
    responses = [
        "<answer>happiness</answer>",
        "<answer>sadness</answer>",
        "<answer>sadness</answer>",
        "<answer>fear</answer>",
        "<answer>anger or fear</answer>",
    ]
    gold = ["happiness", "happiness", "sadness", "anger", "anger"]
    r = score(responses, gold, candidate_labels=[["happiness", "sadness", "anger", "fear"]] * 5, bootstrap=0)
    assert r["macro_precision"] == pytest.approx(1.5 / 4)
    assert r["macro_recall"] == pytest.approx(1.5 / 4)
    assert r["macro_f1"] == pytest.approx(1 / 3)
    assert r["uar"] == pytest.approx(0.5)
    # Without the fear answer (answered anger instead), every predicted class is gold: macro recall equals UAR.
    responses[3] = "<answer>anger</answer>"
    r = score(responses, gold, candidate_labels=[["happiness", "sadness", "anger", "fear"]] * 5, bootstrap=0)
    # anger: P 1/1, R 1/2; happiness and sadness as above. R = (1/2 + 1 + 1/2)/3 = 2/3, P = (1 + 1/2 + 1)/3 = 5/6.
    assert r["macro_recall"] == r["uar"] == pytest.approx(2 / 3)
    assert r["macro_precision"] == pytest.approx(5 / 6)


def test_the_hub_metric_reports_the_same_one_item_figures(tmp_path):
    metric = evaluate.load(str(REPO / "metrics" / "fer_accuracy"), keep_in_memory=True, cache_dir=str(tmp_path))
    r = metric.compute(predictions=ONE_RIGHT, references=["happiness"], bootstrap=0)
    assert (r["macro_recall"], r["uar"]) == (1.0, 1.0)
