"""unifer.metrics.scoring: the behaviours the mutation benchmark (benchmarks/mutation.py) found untested. Expected
values are worked out by hand in the comments."""

import pytest
from scipy.stats import binom

from unifer.metrics.scoring import accuracy_interval, compare_paired, mcnemar_exact, paired_lift, score


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


def test_invalid_candidate_lists_are_refused():
    with pytest.raises(ValueError, match="name the same emotion"):
        score(["<answer>happy</answer>"], ["happiness"], candidate_labels=[["happy", "happiness"]])


def test_an_all_error_input_is_refused_naming_it():
    with pytest.raises(ValueError, match="Every item of the input is an error"):
        score(["ERROR"], ["fear"], candidate_labels=[["fear", "anger"]], errors=[True], extraction="paper")
    with pytest.raises(ValueError, match="Every item of rafdb is an error"):
        score(["ERROR"], ["fear"], errors=[True], subsets=["rafdb"], extraction="paper")


def test_the_first_differing_item_is_named_after_the_first_item():
    with pytest.raises(ValueError, match=r"item 0 has \['fear', 'anger'\], item 2 has"):
        score(
            ["a"] * 3,
            ["fear"] * 3,
            candidate_labels=[("fear", "anger")] * 2 + [("fear", "sadness")],
            subsets=["x"] * 3,
        )


def test_stored_parse_examples_are_capped_and_logged(caplog):
    responses = [f"<think>x</think><answer>fear</answer>{' ' * i}" for i in range(12)]
    result = score(
        responses, ["fear"] * 12, stored_labels=["anger"] * 12, ids=[f"r{i}" for i in range(12)], bootstrap=0
    )
    assert result["stored_parse"] == {"checked": 12, "disagreements": 12, "examples": [f"r{i}" for i in range(10)]}
    assert "12 item(s) parse differently now than when they were generated (first: ['r0', 'r1', 'r2'])" in caplog.text


def test_uar_counts_classes_seen_once():
    # fear: 1 of 1 right; anger: 1 of 2 right. UAR = (1 + 0.5) / 2.
    responses = ["<think>x</think><answer>fear</answer>", "no answer", "<think>x</think><answer>anger</answer>"]
    assert score(responses, ["fear", "anger", "anger"], candidate_labels=[["fear", "anger"]] * 3, bootstrap=0)[
        "uar"
    ] == pytest.approx(0.75)


def test_paper_precision_of_a_class_never_predicted_is_zero():
    # RAF-DB: "fear" is gold once and never predicted, so its precision is 0 (not 1).
    result = score(["<answer>anger</answer>"], ["fear"], subsets=["rafdb"], extraction="paper", bootstrap=0)
    fear = next(row for row in result["per_subset"]["rafdb"]["per_class"] if row["emotion"] == "fear")
    assert (fear["precision"], fear["recall"], fear["support"]) == (0.0, 0.0, 1)


def test_intervals_are_the_95_percent_quantiles_of_the_binomial():
    # Resampling n items and counting the right ones is a Binomial(n, accuracy) draw: its exact 2.5% and 97.5%
    # quantiles (scipy) are what the percentile bootstrap estimates, here to within 3 items of 10,000.
    n = 10_000
    low, high = accuracy_interval(0.5, n, resamples=100_000, seed=3)
    assert low == pytest.approx(binom.ppf(0.025, n, 0.5) / n, abs=3 / n)
    assert high == pytest.approx(binom.ppf(0.975, n, 0.5) / n, abs=3 / n)
    # Paired: only the last of 20 items changed, so the resampled lift is Binomial(20, 1/20) / 20: [0, 3/20].
    lift = paired_lift([False] * 20, [False] * 19 + [True], resamples=20_000)
    assert lift["ci95"] == [0.0, binom.ppf(0.975, 20, 1 / 20) / 20] == [0.0, 0.15]
    # 800 of 1,600 items fixed: the lift is Binomial(1600, 1/2) / 1600 resampled; quantiles to within 1.5 items.
    lift = paired_lift([False] * 1600, [True, False] * 800, resamples=10_000)
    assert lift["ci95"] == pytest.approx([binom.ppf(q, 1600, 0.5) / 1600 for q in (0.025, 0.975)], abs=1.5 / 1600)


def test_documented_defaults_are_the_ones_used():
    """Published intervals reproduce only if the defaults in the signatures (1,000 resamples for an accuracy,
    10,000 for a lift, seed 0) are what runs."""
    right = [i % 10 < 7 for i in range(300)]
    responses = ["<think>x</think><answer>fear</answer>" if r else "no" for r in right]
    assert (
        score(responses, ["fear"] * 300)["accuracy_ci95"]
        == score(responses, ["fear"] * 300, bootstrap=1000, seed=0)["accuracy_ci95"]
    )
    assert accuracy_interval(0.7, 300) == accuracy_interval(0.7, 300, resamples=1000, seed=0)
    before, after = right, [not r if i % 7 == 0 else r for i, r in enumerate(right)]
    assert paired_lift(before, after) == paired_lift(before, after, resamples=10_000, seed=0)
    assert compare_paired(before, after) == compare_paired(before, after, resamples=10_000, seed=0)
    # With seed 23 these items' interval moves with one resample more or less: the default count is checked too.
    assert paired_lift(before, after, seed=23) == paired_lift(before, after, resamples=10_000, seed=23)
    assert compare_paired(before, after, seed=23) == compare_paired(before, after, resamples=10_000, seed=23)
    for resamples in (9_999, 10_001):
        assert paired_lift(before, after, resamples=resamples, seed=23) != paired_lift(before, after, seed=23)
    # ...and a different number of resamples or seed does change the interval.
    assert accuracy_interval(0.7, 300, resamples=999) != accuracy_interval(0.7, 300)
    assert paired_lift(before, after, seed=1)["ci95"] != paired_lift(before, after)["ci95"]
