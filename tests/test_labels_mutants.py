"""unifer.labels: the behaviours the mutation benchmark (benchmarks/mutation.py) found untested."""

from unifer.labels import SUBSET_LABELS, subset_of


def test_an_official_list_is_recognised_as_a_list_too():
    """Candidates read from JSON or a dataset arrive as lists; equal names in the same order are the same subset."""
    assert subset_of(["angry", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise"]) == "ferplus"
    assert subset_of(list(SUBSET_LABELS["sfew_2.0"])) == "sfew_2.0"
    assert subset_of(["contempt", "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]) is None
