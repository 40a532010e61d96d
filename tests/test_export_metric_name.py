"""``unifer export metric DIR``: the exported folder loads with ``evaluate.load(DIR)`` whatever it is called
(evaluate runs ``DIR/<DIR's name>.py``), or the name is refused."""

import evaluate

from unifer.commands import main


def test_an_export_under_another_name_loads_and_scores(tmp_path, capsys):
    folder = tmp_path / "mydir"
    assert main(["export", "metric", str(folder)]) == 0
    assert (folder / "mydir.py").is_file() and not (folder / "fer_accuracy.py").exists()
    assert '"mydir.py"' in (folder / "app.py").read_text()  # the metric's demo loads the renamed script
    metric = evaluate.load(str(folder), keep_in_memory=True, cache_dir=str(tmp_path / "cache"))
    result = metric.compute(
        predictions=["<think>x</think><answer>anger</answer>", "<think>x</think><answer>fear</answer>"],
        references=["anger", "anger"],
        candidate_labels=[["anger", "fear"], ["anger", "fear"]],
    )
    assert result["accuracy"] == 0.5


def test_a_folder_name_that_cannot_be_a_module_is_refused(tmp_path, capsys):
    folder = tmp_path / "my-metric"
    assert main(["export", "metric", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "'my-metric' is not a module name" in err and not folder.exists()
