"""unifer.metrics.scoring: the behaviours the mutation benchmark (benchmarks/mutation.py) found untested. Expected
values are worked out by hand in the comments."""

import pytest

from unifer.metrics.scoring import mcnemar_exact, score


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
