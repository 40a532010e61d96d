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


def test_limit_0_is_refused_alike_by_eval_and_curation():
    from unifer.configs import EvalConfig
    from unifer.data.configs import CurateCotConfig

    with pytest.raises(ValueError, match=r"--limit must be at least 1 \(got 0\)"):
        EvalConfig(model="m", benchmark="b", output_dir="o", limit=0)
    with pytest.raises(ValueError, match=r"--limit must be at least 1 \(got 0\)"):
        CurateCotConfig(rlvr="r", teacher="t", out="o", limit=0)
