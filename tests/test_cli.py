"""The `unifer` command line: help, info, quickstart (interim) and card."""
import json
import subprocess
import sys

from unifer.cli import COMMAND_MODULES, main


def test_help_lists_every_subcommand():
    result = subprocess.run([sys.executable, "-m", "unifer.cli", "--help"], capture_output=True, text=True, check=True)
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


def test_quickstart_says_the_model_is_untrained(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path), "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert "RANDOM-INITIALISED" in out and "untrained" in out
    assert (tmp_path / "tiny-unifer" / "config.json").exists()
    for emotion in ("neutral", "happiness", "sadness", "surprise", "anger"):
        assert emotion in out


def test_user_errors_are_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unifer score: error:") and "Traceback" not in err
