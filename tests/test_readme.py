"""README, top to bottom, on the tiny model and SynFER: every command and snippet that can run offline runs, the rest
is named with the reason and the test that covers it. A README line that neither runs nor is accounted for fails
the suite, so the README cannot rot silently.

Substitutions stand in for what is absent offline: the tiny random model for Hub model ids, a small SynFER build for
FERBench, SynFER faces for the users' photos, and small sizes (``--limit``, ``--max-new-tokens``) for speed.
"""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from unifer.commands import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HUB_MODEL = "Karl28/UniFER-7B"
# Added to every `unifer eval` the README shows: the tiny model's greedy text is meaningless, and short.
FAST_EVAL = ["--limit", "2", "--max-new-tokens", "8", "--bootstrap", "50"]

#: Commands that do not run here: (pattern, why, where they are tested instead).
NOT_RUN = (
    (r"^make (quickstart|test)\b", "what CI itself runs", "tests/test_cli.py (quickstart --fast); this suite"),
    (r"^pip install ", "installing is what `make test` does", "tests/test_eval_extra.py (the eval extra alone)"),
    (r"^unifer data build ferbench ", "needs the licensed FERBench images", "tests/test_data_ferbench.py"),
    (r"^unifer data build (cot|rlvr) ", "needs the released JSON and licensed images", "tests/test_data_cot_rlvr.py"),
    (r"^unifer train ", "7B recipes need GPUs", "tests/test_trainers.py (each recipe, 2 steps, tiny model)"),
    (r"^accelerate launch ", "several GPUs", "tests/test_training_processes.py, tests/test_evaluation.py"),
    (r"^trl vllm-serve ", "vLLM on a GPU", "tests/test_vllm_engine.py (up to vLLM's API)"),
    (r"^unifer space\b", "serves until stopped", "tests/test_space.py::test_cli_serves_on_loopback"),
    (r"^python space/app\.py", "serves until stopped", "tests/test_space.py"),
    (r"^lmms-eval |^python -m lmms_eval ", "lmms-eval's own CLI", "tests/test_lmms_eval.py"),
    (r"^unifer score runs/lmms/", "reads the lmms-eval run above", "tests/test_lmms_eval.py"),
    (r"^huggingface-cli |^hf ", "the Hub", "tests/test_artifacts.py"),
    (r"^unifer card ", "needs a trained model folder", "tests/test_artifacts.py"),
)
#: Python blocks run by another test as written (first line of the block -> that test).
PYTHON_ELSEWHERE = {
    "from unifer.modeling_unifer import UniFERForConditionalGeneration": "tests/test_readme_model.py",
}


def readme_blocks() -> list[tuple[str, int, str]]:
    """(language, first line number, body) of every fenced bash/python block."""
    text = README.read_text(encoding="utf-8")
    return [
        (m.group(1), text[: m.start()].count("\n") + 2, m.group(2))
        for m in re.finditer(r"```(bash|python)\n(.*?)```", text, re.S)
    ]


def commands(body: str) -> list[str]:
    """The commands of a bash block: comments dropped, continuation lines joined, optional `[...]` parts removed."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = [line.split("  #")[0].split(" # ")[0].strip() for line in joined.splitlines()]
    return [re.sub(r"\s*\[[^\]]*\]", "", line) for line in lines if line and not line.startswith("#")]


def not_run_reason(command: str) -> str | None:
    for pattern, why, covered_by in NOT_RUN:
        if re.search(pattern, command):
            for path in covered_by.split(", "):
                file = path.split("::")[0].split(" ")[0]
                if file.startswith("tests/"):
                    assert (ROOT / file).exists(), f"{command!r} names {file} as its test, which does not exist"
            return why
    return None


@pytest.fixture(scope="module")
def walk(tmp_path_factory, tiny_model_path):
    """A working folder laid out as the README assumes: SynFER data, faces, a predictions file, a results file."""
    from unifer.data.synfer import draw_face
    from unifer.data.synfer_dataset import build_synfer

    home = tmp_path_factory.mktemp("readme")
    build_synfer(home / "synfer-bench", n_per_class=1, test_per_class=2, size=64, num_proc=1)
    for name, emotion in (("face.jpg", "happiness"), ("a.jpg", "sadness"), ("b.png", "anger")):
        draw_face(emotion, seed=1, size=96).save(home / name)
    for emotion in ("happiness", "sadness"):
        (home / "my_faces" / emotion).mkdir(parents=True)
        for seed in range(2):
            draw_face(emotion, seed=seed, size=64).save(home / "my_faces" / emotion / f"{seed}.png")
    return {"home": home, "model": str(tiny_model_path)}


def substitute(command: str, walk) -> list[str]:
    """The command as it runs here (see the module docstring)."""
    home = walk["home"]
    text = command.replace(HUB_MODEL, walk["model"]).replace("PATH_OR_HUB_ID", walk["model"])
    text = text.replace("~/my_faces", str(home / "my_faces"))
    argv = shlex.split(text)[1:]  # without the leading `unifer`
    if argv[:1] == ["eval"]:
        argv = [str(home / "synfer-bench") if a == "ferbench" else a for a in argv] + FAST_EVAL
    if argv[:3] == ["data", "build", "synfer"]:
        argv = [{"250": "2"}.get(a, a) for a in argv] + ["--test-per-class", "1", "--size", "48"]
    return argv


@pytest.mark.slow
def test_every_readme_command_runs_or_is_accounted_for(walk, monkeypatch, capsys):
    monkeypatch.chdir(walk["home"])
    ran, skipped = [], []
    for language, line, body in readme_blocks():
        if language != "bash":
            continue
        for command in commands(body):
            reason = not_run_reason(command)
            if reason:
                skipped.append(command)
                continue
            assert command.startswith("unifer "), f"README line {line}: no rule for {command!r}"
            if command.startswith("unifer score ") and "_results.json" in command:
                write_official_results(walk["home"])
            argv = substitute(command, walk)
            code = main(argv)
            assert code == 0, f"README line {line}: `{command}` -> exit {code}\n{capsys.readouterr().err[-2000:]}"
            ran.append(command)
    assert any(c.startswith("unifer eval") for c in ran) and any(c.startswith("unifer score") for c in ran)
    assert (walk["home"] / "runs" / "x" / "report.md").exists()


def write_official_results(home: Path) -> None:
    """One official ``<subset>_results.json`` per subset, as the README's `unifer score` line reads them."""
    from unifer.labels import SUBSET_LABELS

    for subset, candidates in SUBSET_LABELS.items():
        items = [
            {
                "true_label": label,
                "model_response": f"<think>x</think><answer>{label}</answer>",
                "candidate_labels": list(candidates),
            }
            for label in candidates[:3]
        ]
        (home / f"{subset}_results.json").write_text(json.dumps(items))


#: What the README's snippets take as given: an image, a question, a response, candidates.
GIVEN = """from PIL import Image as _Image
from unifer import labels as _labels, prompts as _prompts
image = _Image.open("face.jpg")
candidates = _labels.SUBSET_LABELS["rafdb"]
question = _prompts.fer_question(candidates)
text = "<think>Mouth corners up.</think><answer>happy</answer>"
"""


@pytest.mark.slow
def test_every_readme_python_snippet_runs(walk, tmp_path):
    home = walk["home"]
    run = home / "runs" / "walk-snippets"
    bench = str(home / "synfer-bench")
    args = ["eval", "--model", walk["model"], "--benchmark", bench, "--output-dir", str(run), *FAST_EVAL]
    assert main(args) == 0
    replacements = {
        '"predictions.jsonl"': json.dumps(str(run / "predictions.jsonl")),
        'load_dataset("ferbench", "rafdb"': f'load_dataset({bench!r}, "benchmark"',
        'load_dataset("unifer-cot"': f'load_dataset({bench!r}, "cot"',
        'load_dataset("unifer-rlvr"': f'load_dataset({bench!r}, "rlvr"',
    }
    blocks = [(line, body) for language, line, body in readme_blocks() if language == "python"]
    assert blocks
    for line, body in blocks:
        first = body.strip().splitlines()[0]
        if first in PYTHON_ELSEWHERE:
            assert (ROOT / PYTHON_ELSEWHERE[first]).exists()
            continue
        for old, new in replacements.items():
            body = body.replace(old, new)
        script = tmp_path / f"readme_line_{line}.py"
        script.write_text(GIVEN + body)
        result = subprocess.run([sys.executable, str(script)], cwd=home, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"README python block at line {line}:\n{result.stderr[-3000:]}"
