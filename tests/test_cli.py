"""The `unifer` command line: help, info, quickstart and card."""

import json
import re
import subprocess
import sys

import pytest

from unifer.commands import COMMAND_MODULES, main

# The commands README.md documents (others may be added; these must stay).
DOCUMENTED_COMMANDS = {
    "info",
    "quickstart",
    "score",
    "eval",
    "lmms-eval-tasks",
    "card",
    "train",
    "data",
    "space",
    "export",
}


def test_help_lists_every_subcommand(capsys):
    result = subprocess.run(
        [sys.executable, "-m", "unifer.commands", "--help"], capture_output=True, text=True, check=True
    )
    # Whole names from the listing (one per line, indented 4 spaces), not substrings: "eval" is in "lmms-eval-tasks".
    listing = result.stdout.split("positional arguments:")[1].split("options:")[0]
    listed = re.findall(r"^    (\S+)", listing, flags=re.MULTILINE)
    # The commands the parser accepts, as its error for an unknown one names them.
    with pytest.raises(SystemExit):
        main(["no-such-command"])
    accepted = re.search(r"choose from (.*)\)", capsys.readouterr().err).group(1).replace("'", "").split(", ")
    assert len(listed) == len(set(listed)) and set(listed) == set(accepted)
    assert set(listed) >= DOCUMENTED_COMMANDS
    assert len(COMMAND_MODULES) == len(set(COMMAND_MODULES))


def test_info_json_reports_versions_and_device(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["packages"]["transformers"].split(".")[0] == "5"
    assert info["packages"]["unifer"]
    assert info["device"]["device"] in {"cpu", "cuda", "mps"}
    assert "vllm" in info["packages"]  # present as a key even when not installed (None)


@pytest.mark.slow
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

    from unifer.modeling_unifer import UniFERForConditionalGeneration

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
    model = UniFERForConditionalGeneration.from_pretrained(final)  # on disk a Qwen2.5-VL checkpoint with FER defaults
    assert model.config.model_type == "unifer" and len(model.config.candidate_labels) == 5
    assert model.config.vision_config.patch_size == 4
    assert "**Synthetic data.**" in (final / "README.md").read_text()
    report = (tmp_path / "report.md").read_text()
    assert "SYNTHETIC" in report and "stage 0" in report and "(story.png)" in report
    assert (tmp_path / "story.png").read_bytes().startswith(b"\x89PNG")


def test_user_errors_are_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unifer score: error:") and "Traceback" not in err


# ------------------------------------------------------------- options as dataclasses (unifer.configs), one parser


def test_a_bad_option_is_refused_naming_it_from_the_cli_and_from_python(tmp_path, capsys):
    import pytest

    from unifer.configs import EvalConfig

    out = tmp_path / "run"
    assert main(["eval", "--model", "m", "--benchmark", "b", "--output-dir", str(out), "--batch-size", "0"]) == 2
    assert capsys.readouterr().err == "unifer eval: error: --batch-size must be at least 1 (got 0).\n"
    assert not out.exists()
    with pytest.raises(ValueError, match=r"^--limit must be at least 1 \(got 0\); --extraction must be one of"):
        EvalConfig(model="m", benchmark="b", output_dir=str(out), limit=0, extraction="loose")


@pytest.mark.slow
def test_verbosity_is_accepted_before_or_after_the_subcommand(capsys):
    import logging

    unifer_logger = logging.getLogger("unifer")
    for argv, level in (
        (["info", "--json", "-q"], logging.WARNING),
        (["-q", "info", "--json"], logging.WARNING),  # the subcommand's parser does not reset it
        (["info", "--verbose", "--json"], logging.DEBUG),
        (["info", "--json"], logging.INFO),
    ):
        assert main(argv) == 0
        assert unifer_logger.level == level, argv
    # `unifer train` hands what follows the stage to TrlParser; -q there is still unifer's.
    assert main(["train", "sft", "--quiet"]) == 2  # no recipe given: refused, after -q took effect
    assert unifer_logger.level == logging.WARNING
    assert "needs a recipe" in capsys.readouterr().err


def test_help_shows_each_option_once_with_its_default(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--help"])
    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--batch-size BATCH_SIZE requests per generate call (default: 8)" in help_text
    assert "--max-new-tokens MAX_NEW_TOKENS generation budget per face (default: 1024)" in help_text
    assert "--extraction {strict,paper}" in help_text and "(default: strict)" in help_text
    assert "--probabilities also score every candidate label" in help_text  # a flag: no metavar, no "False"
    assert "--batch_size" not in help_text and "(default: None)" not in help_text


def test_score_reads_positional_predictions_into_its_config(tmp_path, capsys):
    from unifer.commands.score import make_parser
    from unifer.configs import ScoreConfig

    parsed = make_parser().parse_args_into_dataclasses(["a.jsonl", "b", "--seed", "3"], look_for_args_file=False)
    config = parsed[0]  # then the namespace of what is not an option (the handler)
    assert config == ScoreConfig(predictions=["a.jsonl", "b"], seed=3)
    answers = ["happiness", "happiness", "neutral", "happiness"]  # gold: happiness; 3 of the 4 faces right
    lines = [json.dumps({"id": f"face-{i}", "subset": "rafdb", "label": "happiness", "response": f"<answer>{answer}</answer>"})
             for i, answer in enumerate(answers)]  # fmt: skip
    (tmp_path / "one.jsonl").write_text("\n".join(lines[:3]) + "\n")
    (tmp_path / "two.jsonl").write_text(lines[3] + "\n")
    report = tmp_path / "report"
    files = [str(tmp_path / "one.jsonl"), str(tmp_path / "two.jsonl")]
    assert main(["score", "--bootstrap", "0", *files, "--output_dir", str(report)]) == 0
    assert json.loads((report / "metrics.json").read_text())["accuracy"] == 0.75


@pytest.mark.slow
def test_run_json_is_the_eval_config_and_what_it_resolves_to(tiny_model_path, tmp_path, capsys):
    """run.json holds every option as given (no third list of them) plus the resolved facts; a rerun may change
    where and how much it runs (batch size, bootstrap) but not what the model is asked."""
    from dataclasses import asdict

    from unifer.configs import EvalConfig
    from unifer.data.synfer_dataset import build_synfer

    benchmark = tmp_path / "bench"
    build_synfer(benchmark, n_per_class=1, test_per_class=1, size=32, emotions=["happiness", "sadness"], num_proc=1)
    out = tmp_path / "run"
    common = ["eval", "--model", str(tiny_model_path), "--benchmark", str(benchmark), "--output_dir", str(out)]
    assert main([*common, "--batch_size", "3", "--max-new-tokens", "2", "--bootstrap", "0", "--limit", "1"]) == 0
    run = json.loads((out / "run.json").read_text())
    given = EvalConfig(
        model=str(tiny_model_path), benchmark=str(benchmark), output_dir=str(out), batch_size=3, max_new_tokens=2,
        bootstrap=0, limit=1,
    )  # fmt: skip
    assert {key: run[key] for key in asdict(given)} == asdict(given)
    facts = {key: run[key] for key in set(run) - set(asdict(given))}
    resolved = {"model_fingerprint", "benchmark_fingerprint", "prompt_sha256", "benchmark_config", "do_sample"}
    assert resolved <= set(facts)
    assert facts["benchmark_config"] == "benchmark" and len(facts["model_fingerprint"]) == 64
    assert main([*common, "--batch-size", "1", "--max-new-tokens", "2", "--bootstrap", "5", "--limit", "1"]) == 0
    assert json.loads((out / "run.json").read_text())["batch_size"] == 1
    assert main([*common, "--max-new-tokens", "3", "--limit", "1"]) == 2
    assert "max_new_tokens: 2 -> 3" in capsys.readouterr().err


def test_a_flag_before_a_positional_stays_a_flag():
    from unifer.commands import build_parser
    from unifer.commands.parsing import parsed_configs
    from unifer.configs import ExportMetricConfig

    args = build_parser().parse_args(["export", "metric", "--overwrite", "fer_accuracy"])
    assert parsed_configs(args) == (ExportMetricConfig(dir="fer_accuracy", overwrite=True),)
