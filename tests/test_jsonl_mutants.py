"""unifer.jsonl: the behaviours the mutation benchmark (benchmarks/mutation.py) found untested."""

import json
import logging

import pytest

from unifer.jsonl import Ledger, check_run_settings, iter_records, read_records, write_records


def test_reading_alone_never_cuts_a_torn_line_and_repairing_says_so(tmp_path, caplog):
    path = tmp_path / "log.jsonl"
    path.write_text('{"id": 1}\n{"id": 2, "ha')
    with caplog.at_level(logging.WARNING):
        assert list(iter_records(path)) == [{"id": 1}]  # the default streams without repairing
    assert path.read_text().endswith('"ha') and "cut it off" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        read_records(path, repair=True)
    assert path.read_text() == '{"id": 1}\n' and "skipped the torn last line 2 (an interrupted write); cut it off" in (
        caplog.text
    )


def test_records_are_written_as_readable_utf8(tmp_path):
    path = write_records(tmp_path / "log.jsonl", [{"label": "é", "text": "naïve"}])
    assert path.read_text(encoding="utf-8") == '{"label": "é", "text": "naïve"}\n'


def test_a_ledger_creates_its_folders(tmp_path):
    path = tmp_path / "a" / "b" / "log.jsonl"
    with Ledger(path) as ledger:
        assert ledger.records == []
        ledger.append([{"id": 1}])
    assert read_records(path) == [{"id": 1}]


def test_run_settings_are_written_once_into_new_or_existing_folders(tmp_path):
    nested = tmp_path / "runs" / "first"
    check_run_settings(nested, {"max_new_tokens": 12}, file_name="settings.json", what="predictions", option="--out")
    assert (nested / "settings.json").read_text() == '{\n  "max_new_tokens": 12\n}\n'
    existing = tmp_path / "second"
    existing.mkdir()  # a folder the user made, without a settings file yet
    check_run_settings(existing, {"seed": 0}, file_name="settings.json", what="predictions", option="--out")
    assert json.loads((existing / "settings.json").read_text()) == {"seed": 0}


@pytest.mark.parametrize("before, after", [(12, 5), (5, 12), ("a", "b"), ("b", "a")])
def test_any_changed_setting_refuses_to_resume(tmp_path, before, after):
    """Lowered or raised, any changed value is a change (not only a larger one)."""
    options = dict(file_name="settings.json", what="predictions", option="--output-dir")
    check_run_settings(tmp_path, {"value": before}, **options)
    with pytest.raises(ValueError, match=f"value: {before!r} -> {after!r}.*--output-dir"):
        check_run_settings(tmp_path, {"value": after}, **options)
