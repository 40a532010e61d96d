"""The one append-only ledger (unifer.jsonl): torn-line policy, atomic rewrite, run-settings guard."""

import json

import pytest

from unifer.jsonl import Ledger, check_run_settings, read_records, write_records


def test_torn_last_line_is_skipped_and_cut_off_only_when_repairing(tmp_path, caplog):
    path = tmp_path / "log.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n{"id": 3, "half')
    assert read_records(path) == [{"id": 1}, {"id": 2}]
    assert path.read_text().endswith('"half')  # reading alone never changes the file
    assert "torn last line 3" in caplog.text
    with Ledger(path) as ledger:
        assert ledger.records == [{"id": 1}, {"id": 2}]
        ledger.append([{"id": 3}])
    assert read_records(path) == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert path.read_text().count("\n") == 3


def test_a_complete_last_line_without_newline_counts_as_torn(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}')  # a kill between the record and its newline
    assert read_records(path, repair=True) == [{"id": 1}]
    assert path.read_text() == '{"id": 1}\n'


def test_damage_before_the_last_line_is_an_error_not_a_silent_drop(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"id": 1}\nnot json\n{"id": 3}\n')
    with pytest.raises(ValueError, match=r"log.jsonl: line 2 is not a JSON record.*lines follow it"):
        read_records(path, repair=True)
    assert path.read_text().count("\n") == 3  # nothing was cut


def test_blank_lines_and_missing_files(tmp_path):
    path = tmp_path / "log.jsonl"
    assert read_records(path) == []
    path.write_text('{"id": 1}\n\n{"id": 2}\n')
    assert read_records(path) == [{"id": 1}, {"id": 2}]


def test_write_records_replaces_atomically(tmp_path):
    path = write_records(tmp_path / "log.jsonl", [{"id": "é"}])
    assert json.loads(path.read_text(encoding="utf-8")) == {"id": "é"}
    assert [p.name for p in tmp_path.iterdir()] == ["log.jsonl"]  # no temporary left behind


def test_run_settings_guard(tmp_path):
    folder = tmp_path / "run"
    check_run_settings(folder, {"model": "a", "seed": 0}, file_name="run.json", what="predictions", option="--out")
    check_run_settings(folder, {"model": "a", "seed": 0}, file_name="run.json", what="predictions", option="--out")
    with pytest.raises(ValueError, match=r"holds predictions made with other settings \(seed: 0 -> 1\).*--out"):
        check_run_settings(folder, {"model": "a", "seed": 1}, file_name="run.json", what="predictions", option="--out")
