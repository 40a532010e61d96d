import doctest
import importlib.util
import re

import evaluate
import pytest

from unifer.labels import SUBSET_LABELS
from unifer.metrics.scoring import fer_accuracy_path, score

from .support import REPO

METRIC_DIR = REPO / "metrics" / "fer_accuracy"

RESPONSES = [
    "<think>Mouth corners up.</think><answer>happy</answer>",
    "<think>Brows raised.</think><answer>surprise or fear</answer>",  # strict: unparsed; paper: fear (listed first)
    "<answer>SADNESS</answer>",
    "<think>x</think><answer>angry</answer>",
    "ERROR: CUDA out of memory",
    "The face shows contempt.",  # no tags
]
GOLD = ["happy", "fear", "sad", "angry", "neutral", "contempt"]
SUBSETS = ["ferplus"] * 3 + ["sfew_2.0"] * 2 + ["affectnet"]
ERRORS = [False, False, False, False, True, False]


@pytest.fixture(scope="module")
def metric(tmp_path_factory):
    # A path, never a bare name: evaluate then loads the local script and never asks the Hub.
    return evaluate.load(str(METRIC_DIR), keep_in_memory=True, cache_dir=str(tmp_path_factory.mktemp("cache")))


def test_fer_accuracy_path_loads_from_any_working_directory(tmp_path, monkeypatch):
    assert fer_accuracy_path() == str(METRIC_DIR)  # a checkout (editable install) resolves to the repo
    monkeypatch.chdir(tmp_path)
    metric = evaluate.load(fer_accuracy_path(), keep_in_memory=True)
    assert metric.compute(predictions=RESPONSES[:1], references=["happiness"], bootstrap=0)["accuracy"] == 1.0


@pytest.mark.parametrize("extraction", ["strict", "paper"])
def test_evaluate_load_gives_the_same_result_as_score(metric, extraction):
    kwargs = dict(subsets=SUBSETS, errors=ERRORS, extraction=extraction, bootstrap=200, seed=3)
    expected = score(RESPONSES, GOLD, **kwargs)
    assert metric.compute(predictions=RESPONSES, references=GOLD, **kwargs) == expected
    assert expected["per_subset"]["ferplus"]["accuracy"] == (2 / 3 if extraction == "strict" else 1.0)
    candidates = [list(SUBSET_LABELS[s]) for s in SUBSETS]
    assert metric.compute(predictions=RESPONSES, references=GOLD, candidate_labels=candidates, **kwargs) == expected


def test_add_batch_accumulates_like_one_compute(metric):
    gold = ["happiness", "fear", "sadness", "anger", "neutral", "contempt"]
    for start in (0, 3):
        metric.add_batch(predictions=RESPONSES[start : start + 3], references=gold[start : start + 3])
    batched = metric.compute(bootstrap=0)
    # happy -> happiness, "surprise or fear" unparsed, SADNESS -> sadness, angry -> anger, error text and
    # untagged response unparsed: 3 of 6 correct over the canonical emotions.
    assert batched == score(RESPONSES, gold, bootstrap=0)
    assert batched["accuracy"] == 0.5 and batched["unparsed_count"] == 3


def test_per_item_columns_cannot_go_through_add_batch(metric):
    # evaluate 0.4.6 only stores the first feature option's columns; the card says to pass these to compute().
    with pytest.raises(ValueError, match="Bad inputs"):
        metric.add_batch(predictions=RESPONSES, references=GOLD, subsets=SUBSETS)


def test_module_docstring_example_runs(monkeypatch):
    monkeypatch.chdir(REPO)  # the example loads "metrics/fer_accuracy", as a reader in a checkout would
    spec = importlib.util.spec_from_file_location("fer_accuracy_script", METRIC_DIR / "fer_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    test = doctest.DocTestParser().get_doctest(module._KWARGS_DESCRIPTION, {"evaluate": evaluate}, "example", None, 0)
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.failures == 0 and runner.tries >= 4
    assert "2511.00389" in module._CITATION


def test_metric_card_and_space_files():
    card = (METRIC_DIR / "README.md").read_text()
    header = re.match(r"---\n(.*?)\n---\n", card, re.DOTALL).group(1)
    for key in (
        "title:",
        "emoji:",
        "colorFrom:",
        "colorTo:",
        "sdk: gradio",
        "sdk_version:",
        "app_file: app.py",
        "pinned: false",
        "- evaluate",
        "- metric",
        "description:",
    ):
        assert key in header
    for section in (
        "## Metric Description",
        "## How to Use",
        "### Inputs",
        "### Output Values",
        "### Examples",
        "## Limitations and Bias",
        "## Citation",
    ):
        assert section in card
    assert 'evaluate.load("fer_accuracy.py")' in (METRIC_DIR / "app.py").read_text()
    requirements = (METRIC_DIR / "requirements.txt").read_text().splitlines()
    assert {"evaluate>=0.4.6", "scikit-learn>=1.5", "unifer"} <= set(requirements)
