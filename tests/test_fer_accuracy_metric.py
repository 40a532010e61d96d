"""The fer_accuracy evaluate metric: the same figures as ``unifer.metrics.scoring.score``, in this checkout and as
its Hub users get it (the folder alone, ``unifer`` not importable), and its Space app on Gradio 6."""

import doctest
import json
import re
import shutil
import sys

import evaluate
import gradio
import pytest

from unifer.labels import SUBSET_LABELS
from unifer.metrics import fer_accuracy_path
from unifer.metrics.export import metric_files
from unifer.metrics.scoring import score

from .artifacts import canonical, imported_distributions, pip_resolves, requirements, run_without_unifer
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


def test_module_docstring_example_runs(metric, monkeypatch):
    monkeypatch.chdir(REPO)  # the example loads "metrics/fer_accuracy", as a reader in a checkout would
    module = sys.modules[type(metric).__module__]
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


def test_the_committed_folder_is_what_the_export_writes():
    """One source of truth: fer_scoring.py is bundled from unifer's own modules. If this fails, regenerate the
    folder: unifer export metric metrics/fer_accuracy --overwrite"""
    for name, text in metric_files().items():
        assert (METRIC_DIR / name).read_text(encoding="utf-8") == text, f"metrics/fer_accuracy/{name} is stale"


def test_the_export_refuses_to_replace_other_files_without_overwrite(tmp_path):
    from unifer.commands import main

    folder = tmp_path / "fer_accuracy"
    assert main(["export", "metric", str(folder)]) == 0
    assert main(["export", "metric", str(folder)]) == 0  # the same content again: nothing to refuse
    (folder / "README.md").write_text("my own card")
    assert main(["export", "metric", str(folder)]) == 2
    assert (folder / "README.md").read_text() == "my own card"
    assert main(["export", "metric", str(folder), "--overwrite"]) == 0
    assert (folder / "README.md").read_text() == metric_files()["README.md"]


@pytest.mark.slow
def test_the_folder_alone_scores_like_unifer_where_unifer_is_not_installed(tmp_path):
    """As a Hub user: the metric folder (nothing else) loaded with unifer not importable, and its Space app."""
    folder = tmp_path / "fer_accuracy"
    folder.mkdir()
    for name in metric_files():
        shutil.copy(METRIC_DIR / name, folder / name)
    cases = {
        "strict": dict(subsets=SUBSETS, errors=ERRORS, extraction="strict", bootstrap=200, seed=3),
        "paper": dict(subsets=SUBSETS, errors=ERRORS, extraction="paper", bootstrap=200, seed=3),
        "plain": dict(bootstrap=0),
    }
    references = {
        "strict": GOLD,
        "paper": GOLD,
        "plain": ["happiness", "fear", "sadness", "anger", "neutral", "contempt"],
    }
    script = f"""
        import json, runpy
        import evaluate
        metric = evaluate.load({str(folder)!r}, keep_in_memory=True, cache_dir={str(tmp_path / "cache")!r})
        cases, references = {cases!r}, {references!r}
        results = {{
            name: metric.compute(predictions={RESPONSES!r}, references=references[name], **kwargs)
            for name, kwargs in cases.items()
        }}
        app = runpy.run_path({str(folder / "app.py")!r}, run_name="metric_space")
        rows = [[response, gold, ""] for response, gold in zip({RESPONSES!r}, references["plain"])]
        results["app"] = app["compute"](rows, "strict", 0)
        print("RESULTS" + json.dumps(results))
    """
    output = run_without_unifer(script, cwd=tmp_path).stdout
    results = json.loads(output.split("RESULTS", 1)[1])
    for name, kwargs in cases.items():
        assert results[name] == json.loads(json.dumps(score(RESPONSES, references[name], **kwargs))), name
    assert results["app"] == results["plain"]
    assert results["paper"]["per_subset"]["ferplus"]["accuracy"] == 1.0


def test_the_app_runs_on_the_gradio_major_version_the_card_declares():
    declared = re.search(r"^sdk_version: (\S+)$", (METRIC_DIR / "README.md").read_text(), re.MULTILINE).group(1)
    # The app is run by test_the_folder_alone_scores_like_unifer_where_unifer_is_not_installed on this Gradio.
    assert declared.split(".")[0] == gradio.__version__.split(".")[0]


def test_requirements_name_every_import_and_only_pypi_packages():
    listed = {canonical(r.name) for r in requirements(METRIC_DIR / "requirements.txt")}
    assert all(not r.url for r in requirements(METRIC_DIR / "requirements.txt"))
    assert "unifer" not in listed
    imported = imported_distributions(METRIC_DIR)
    imported.pop("gradio")  # app.py's: the Space installs it from the card's sdk_version
    assert set(imported) <= listed, set(imported) - listed


@pytest.mark.slow
def test_pip_resolves_the_requirements_from_pypi():
    pip_resolves(METRIC_DIR / "requirements.txt")
