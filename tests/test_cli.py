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
    """The shortened pipeline (as CI runs it): data, stage 0, SFT, GRPO with a held-out evaluation mid-way,
    evaluation after each stage, the paired lift, the report's picture and a servable model — and learning, so that a
    change that breaks it fails here. Bars (chance is 0.20; its standard deviation over these 100 test faces is
    0.04), with what they guard against:

    * stage 0's held-out probe accuracy ≥ 0.6 (measured 0.81 with seed 0): the tower learns the expressions;
    * after SFT, accuracy ≥ 0.4 (measured 0.59) with at least 90% of the answers well formed (measured 1.00): the
      language model learns the CoT format and reads the face through the tower;
    * GRPO's 4 steps are too few to move accuracy (measured: no answer changed), so the test checks that they ran
      through the rewards (an accuracy reward logged at every step) and that the report pairs the evaluations.
    Whether the full run reaches the accuracy targets is measured by `make quickstart` (docs/quickstart.md).
    """
    import pytest
    from transformers import AutoModelForImageTextToText

    assert main(["quickstart", "--fast", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "chance accuracy 0.200" in out and "paired-bootstrap" in out
    summary = json.loads((tmp_path / "quickstart.json").read_text())
    rows = {row["stage"]: row for row in summary["rows"]}
    assert list(rows) == ["vision", "sft", "grpo"]
    for row in rows.values():
        assert 0 <= row["ci95"][0] <= row["accuracy"] <= row["ci95"][1] <= 1 and row["seconds"] > 0
        assert f"{row['accuracy']:>9.3f}" in out
    assert rows["vision"]["accuracy"] >= 0.6
    assert rows["sft"]["accuracy"] >= 0.4 and rows["sft"]["well_formed_rate"] >= 0.9
    curve = summary["grpo_curve"]
    assert curve["reward_steps"] == [1, 2, 3, 4] and all(0 <= reward <= 1 for reward in curve["accuracy_reward"])
    assert curve["held_out_steps"] == [0, 2, 4]
    assert curve["held_out_accuracy"][0] == rows["sft"]["accuracy"]
    assert curve["held_out_accuracy"][-1] == rows["grpo"]["accuracy"]
    lift = summary["grpo_lift"]
    assert lift["n"] == 100 and lift["lift"] == pytest.approx(rows["grpo"]["accuracy"] - rows["sft"]["accuracy"])
    for stage in ("sft", "grpo"):
        assert (tmp_path / f"eval-{stage}" / "metrics.json").exists()
        assert (tmp_path / f"eval-{stage}" / "confusion_overall.png").exists()
    assert (tmp_path / "eval-grpo-steps" / "step-0002" / "metrics.json").exists()
    final = tmp_path / "final-model"
    model = AutoModelForImageTextToText.from_pretrained(final)
    assert model.config.model_type == "unifer" and len(model.config.candidate_labels) == 5
    assert model.config.vision_config.patch_size == 4
    assert "**Synthetic data.**" in (final / "README.md").read_text()
    report = (tmp_path / "report.md").read_text()
    assert "SYNTHETIC" in report and "stage 0" in report and "(story.png)" in report
    assert (tmp_path / "story.png").read_bytes().startswith(b"\x89PNG")


def _predictions(folder, right: list[bool], order: list[int]) -> None:
    """A ``unifer eval`` folder's predictions.jsonl: face ``i`` answered right or wrong, written in ``order``."""
    folder.mkdir()
    lines = []
    for i in order:
        answer = "happiness" if right[i] else "neutral"
        record = {"id": f"face-{i}", "subset": "synfer", "label": "happiness", "response": answer}
        lines.append(json.dumps({**record, "parsed_label": answer}))
    (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n")


def test_quickstart_lift_pairs_the_answers_by_face(tmp_path):
    import pytest

    from unifer.quickstart import paired_lift

    before = [i % 2 == 0 for i in range(200)]  # 100 right
    after = [right or i in (1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23) for i, right in enumerate(before)]
    after[0] = after[2] = False  # 12 fixed, 2 broken: lift +0.05
    _predictions(tmp_path / "sft", before, list(range(200)))
    _predictions(tmp_path / "grpo", after, list(reversed(range(200))))  # pairing is by id, not by line
    lift = paired_lift(tmp_path / "sft", tmp_path / "grpo")
    assert (lift["n"], lift["fixed"], lift["broken"]) == (200, 12, 2)
    assert lift["lift"] == pytest.approx(0.05)
    # Only the 14 changed faces vary under paired resampling: the interval is narrow and excludes 0.
    assert 0 < lift["ci95"][0] < 0.05 < lift["ci95"][1] < 0.1
    _predictions(tmp_path / "other", before[:199], list(range(199)))
    with pytest.raises(ValueError, match="different faces"):
        paired_lift(tmp_path / "sft", tmp_path / "other")


def test_user_errors_are_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unifer score: error:") and "Traceback" not in err
