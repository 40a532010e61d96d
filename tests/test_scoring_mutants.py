"""unifer.metrics.scoring: the behaviours the mutation benchmark (benchmarks/mutation.py) found untested. Expected
values are worked out by hand in the comments."""

import pytest

from unifer.metrics.scoring import mcnemar_exact, paired_lift, score


def test_mcnemar_exact_by_hand():
    # Two-sided exact binomial test on the changed items: 2 * P(X <= min) under Binomial(fixed + broken, 1/2).
    assert mcnemar_exact(3, 1) == pytest.approx(2 * (1 + 4) / 16)  # 0.625
    assert mcnemar_exact(5, 0) == pytest.approx(2 * 1 / 32)  # 0.0625
    assert mcnemar_exact(6, 2) == pytest.approx(2 * (1 + 8 + 28) / 256)
    assert mcnemar_exact(1, 1) == 1.0 and mcnemar_exact(0, 0) == 1.0  # capped at 1; nothing changed


def test_paper_mode_counts_errors_when_most_items_failed():
    # 5 items, 3 of them generation errors: 2 scored (1 right), errors 3 = total 5 - valid 2.
    responses = ["<answer>fear</answer>", "<answer>anger</answer>", "ERROR", "ERROR", "ERROR"]
    result = score(responses, ["fear"] * 5, errors=[False, False, True, True, True], extraction="paper", bootstrap=0)
    assert (result["total"], result["errors"], result["valid"], result["accuracy"]) == (5, 3, 2, 0.5)


def test_paper_mode_unparsed_rate_is_unknowns_over_scored_items():
    # "nothing" names no candidate, alias or synonym: 3 unknowns among 4 scored items (the error item is not scored).
    responses = ["<answer>fear</answer>", "nothing", "nothing", "nothing", "ERROR"]
    result = score(responses, ["fear"] * 5, errors=[0, 0, 0, 0, 1], extraction="paper", bootstrap=0)
    assert (result["unknowns"], result["unparsed_count"], result["unparsed_rate"]) == (3, 3, 0.75)


def runtime(text):
    """``text`` built at run time (as labels read from a file or a command line are), not an interned literal."""
    return "".join(list(text))


def test_paper_mode_interval_counts_exactly_the_right_items():
    # All right: every resample is right, [1, 1]; all wrong (predictions sorting before and after the gold, and
    # "unknown"): [0, 0]. The gold labels are read at run time, as from a predictions file.
    right = score(["<answer>fear</answer>"] * 4, [runtime("fear")] * 4, extraction=runtime("paper"), bootstrap=200)
    assert right["extraction"] == "paper" and right["accuracy_ci95"] == [1.0, 1.0]
    wrong = ["<answer>anger</answer>", "<answer>surprise</answer>", "nothing", "<answer>anger</answer>"]
    assert score(wrong, ["fear"] * 4, extraction="paper", bootstrap=200)["accuracy_ci95"] == [0.0, 0.0]


def test_nothing_to_score_and_every_length_mismatch_are_refused():
    with pytest.raises(ValueError, match="Nothing to score"):
        score([], [])
    with pytest.raises(ValueError, match="`references` has 3 entries but `responses` has 2"):
        score(["a", "b"], ["fear", "fear", "fear"])  # longer, not only shorter
    for stored in (["fear", None, None], ["fear"]):
        with pytest.raises(ValueError, match=f"`stored_labels` has {len(stored)} entries but `responses` has 2"):
            score(["a", "b"], ["fear", "fear"], stored_labels=stored)
    for before, after in (([True], [True, False]), ([True, False], [True])):
        with pytest.raises(ValueError, match="pair them item by item"):
            paired_lift(before, after)


@pytest.mark.parametrize(
    "lists", [[("fear", "anger"), ("fear", "happiness")], [("fear", "happiness"), ("fear", "anger")]]
)
def test_differing_candidate_lists_within_a_subset_are_refused_in_either_order(lists):
    with pytest.raises(ValueError, match="Candidate lists differ within subset 'rafdb'"):
        score(["a", "b"], ["fear", "fear"], candidate_labels=lists, subsets=["rafdb", "rafdb"])


def test_one_candidate_list_without_subsets_keeps_its_own_names():
    # FERPlus names: "joy" is scored as FERPlus's "happy", not pooled to the canonical "happiness".
    ferplus = ["angry", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    result = score(["<think>x</think><answer>joy</answer>"], ["happy"], candidate_labels=[ferplus], bootstrap=0)
    assert result["confusion_labels"] == [*ferplus, "unparsed"] and result["per_class"]["happy"]["recall"] == 1.0


def test_equal_lengths_past_256_items_are_accepted():
    # Lengths are compared by value: past 256 (where CPython stops sharing int objects) equal lengths still pair.
    responses = ["<think>x</think><answer>fear</answer>"] * 300
    result = score(responses, ["fear"] * 300, stored_labels=["fear"] * 300, bootstrap=0)
    assert result["stored_parse"] == {"checked": 300, "disagreements": 0, "examples": []}
    assert paired_lift([True] * 300, [False] * 300, resamples=10)["lift"] == -1.0
