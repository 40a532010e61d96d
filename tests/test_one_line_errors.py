"""Bad input named in one line: emotions given twice or unknown when building SynFER."""

import pytest

from unifer.commands import main


@pytest.mark.parametrize(
    ("emotions", "message"),
    [
        (["happy", "joy"], "'happy' and 'joy' name the same emotion (happiness)"),
        (["happy", "glee"], "Unknown emotion label 'glee'. Allowed: the canonical emotions neutral, happiness"),
    ],
)
def test_synfer_emotions_are_refused_with_the_accepted_names(tmp_path, capsys, emotions, message):
    out = tmp_path / "synfer"
    assert main(["data", "build", "synfer", "--out", str(out), "--n-per-class", "1", "--emotions", *emotions]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not out.exists()
