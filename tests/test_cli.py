"""The `unifer` command line: help, info, quickstart and card."""

import json
import subprocess
import sys

from unifer.commands import COMMAND_MODULES, main


def test_help_lists_every_subcommand():
    result = subprocess.run(
        [sys.executable, "-m", "unifer.commands", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("info", "quickstart", "score", "eval", "card"):
        assert command in result.stdout
    assert len(COMMAND_MODULES) == len(set(COMMAND_MODULES))


def test_info_json_reports_versions_and_device(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["packages"]["transformers"].split(".")[0] == "5"
    assert info["packages"]["unifer"]
    assert info["device"]["device"] in {"cpu", "cuda", "mps"}
    assert "vllm" in info["packages"]  # present as a key even when not installed (None)


def test_quickstart_fast_runs_every_stage_and_learns(tmp_path, capsys):
    """The shortened pipeline (as CI runs it): data, stage 0, SFT, GRPO, evaluation after each stage, a servable
    model — and learning, so that a change that breaks it fails here. Bars, with what they guard against:

    * stage 0's held-out probe accuracy ≥ 0.35 (measured 0.47 with seed 0; chance is 0.20 and its standard
      deviation over these 100 test faces is 0.04, so 0.35 is about four deviations above chance);
    * after SFT at least 90% of the generated answers are well formed (measured 1.00): the CoT format is learned.
    Whether the full run reaches the accuracy targets is measured by `make quickstart` (docs/quickstart.md).
    """
    from transformers import AutoModelForImageTextToText

    assert main(["quickstart", "--fast", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "chance accuracy 0.200" in out
    rows = {row["stage"]: row for row in json.loads((tmp_path / "quickstart.json").read_text())["rows"]}
    assert list(rows) == ["vision", "sft", "grpo"]
    for row in rows.values():
        assert 0 <= row["accuracy"] <= 1 and row["seconds"] > 0
        assert f"{row['accuracy']:>9.3f}" in out
    assert rows["vision"]["accuracy"] >= 0.35
    assert rows["sft"]["well_formed_rate"] >= 0.9
    for stage in ("sft", "grpo"):
        assert (tmp_path / f"eval-{stage}" / "metrics.json").exists()
        assert (tmp_path / f"eval-{stage}" / "confusion_overall.png").exists()
    final = tmp_path / "final-model"
    model = AutoModelForImageTextToText.from_pretrained(final)
    assert model.config.model_type == "unifer" and len(model.config.candidate_labels) == 5
    assert model.config.vision_config.patch_size == 4
    assert "Synthetic demo model" in (final / "README.md").read_text()
    report = (tmp_path / "report.md").read_text()
    assert "SYNTHETIC" in report and "stage 0" in report


def test_user_errors_are_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unifer score: error:") and "Traceback" not in err
