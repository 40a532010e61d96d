"""`pip install "unifer[eval]"` is enough for `unifer eval` (to its report) and `unifer score`.

A fresh venv gets unifer from a wheel built from this checkout, and of every other distribution only those
`unifer[eval]` requires (resolved from the wheel's own metadata, transitively): their installed files are linked
in from the test interpreter's environment, so nothing is downloaded, and whatever the eval extra does not bring
is absent, as after a real `pip install "unifer[eval]"` (checked below).
"""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from unifer.data.synfer_dataset import build_synfer
from unifer.lmms_eval_tasks import task_files

from .support import REPO

EXTRA = "eval"
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
NOT_SOURCE = shutil.ignore_patterns(
    ".venv*", ".git", "__pycache__", "*.egg-info", "build", "dist", "quickstart_out", ".*_cache"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """unifer's wheel, built from a copy of the checkout (an in-tree build would write build/ into it)."""
    root = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, root / "src", ignore=NOT_SOURCE)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    subprocess.run([*build, "-w", str(root), str(root / "src")], check=True, capture_output=True, timeout=300)
    [path] = root.glob("unifer-*.whl")
    return path


def requirement_closure(requirements: list[str], extra: str) -> dict[str, importlib.metadata.Distribution]:
    """Every distribution ``requirements`` (with ``extra`` requested) pull in, as installed here."""
    found: dict[str, importlib.metadata.Distribution] = {}
    requested: dict[str, set[str]] = {}
    todo = [(Requirement(r), extra) for r in requirements]
    while todo:
        requirement, active_extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": active_extra}):
            continue
        name = canonicalize_name(requirement.name)
        try:
            dist = found.get(name) or importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"{requirement} (needed by unifer[{extra}]) is not installed in {sys.prefix}")
        assert requirement.specifier.contains(dist.version, prereleases=True), f"{requirement}: {dist.version} here"
        new_extras = set(requirement.extras) - requested.get(name, set())
        if name in found and not new_extras:
            continue
        extras = ([""] if name not in found else []) + sorted(new_extras)
        found[name] = dist
        requested.setdefault(name, set()).update(requirement.extras)
        todo += [(Requirement(r), e) for r in dist.requires or [] for e in extras]
    return found


@pytest.fixture(scope="module")
def eval_env(wheel, tmp_path_factory):
    """A venv holding unifer (from the wheel) and exactly the distributions unifer[eval] resolves to."""
    env = tmp_path_factory.mktemp("eval_env") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = env / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q"]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True, timeout=300)
    [site] = (env / "lib").glob("python*/site-packages")
    unifer = importlib.metadata.Distribution.at(next(site.glob("unifer-*.dist-info")))
    closure = requirement_closure(unifer.requires or [], EXTRA)
    for dist in closure.values():
        base = Path(dist.locate_file(""))
        assert dist.files is not None, f"{dist.metadata['Name']} has no RECORD: cannot tell its files"
        for file in dist.files:
            link = site / file
            if file.parts[0] == ".." or os.path.lexists(link):
                continue  # scripts live outside site-packages; a namespace package's shared __init__ comes once
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(base / file)
    return {"bin": env / "bin", "closure": set(closure), "requires": unifer.requires or []}


def run(env, *command, cwd):
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment.update(OFFLINE, PYTHONNOUSERSITE="1", MPLCONFIGDIR=str(cwd / "mpl"))
    environment.update(HF_DATASETS_CACHE=str(cwd / "hf_datasets"), PATH=f"{env['bin']}:{environment['PATH']}")
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_unifer_eval_runs_to_its_report_with_only_the_eval_extra(eval_env, tiny_model_path, tmp_path):
    benchmark = tmp_path / "synfer"
    build_synfer(benchmark, n_per_class=1, test_per_class=1, size=48, emotions=["happiness", "sadness"], num_proc=1)
    out = tmp_path / "run"
    evaluated = run(
        eval_env,
        *("unifer", "eval", "--model", str(tiny_model_path), "--benchmark", str(benchmark)),
        *("--output-dir", str(out), "--max-new-tokens", "4", "--bootstrap", "0"),
        cwd=tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    for name in ("predictions.jsonl", "metrics.json", "report.md", "confusion_overall.png", "confusion_synfer.png"):
        assert (out / name).is_file(), f"{name} missing; stderr:\n{evaluated.stderr[-3000:]}"
    scored = run(eval_env, "unifer", "score", str(out / "predictions.jsonl"), "--extraction", "paper", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "overall" in scored.stdout


def test_the_eval_env_lacks_what_the_eval_extra_does_not_bring(eval_env, tmp_path):
    """The other extras' packages are really absent, so the run above proves the eval extra is enough."""
    others = {
        canonicalize_name(Requirement(r).name)
        for r in eval_env["requires"]
        for extra in ("train", "space", "lmms-eval")
        if Requirement(r).marker is not None and Requirement(r).marker.evaluate({"extra": extra})
    } - eval_env["closure"]
    assert {"trl", "peft", "gradio", "lmms-eval"} <= others
    probe = "import importlib.metadata as m, sys\nfor name in sys.argv[1:]:\n    try:\n        m.version(name)\n" + (
        "        print(name)\n    except m.PackageNotFoundError:\n        pass\n"
    )
    found = run(eval_env, "python", "-c", probe, *sorted(others), cwd=tmp_path)
    assert found.returncode == 0 and found.stdout == "", found.stdout + found.stderr
    imported = run(eval_env, "python", "-c", "import trl", cwd=tmp_path)
    assert "No module named 'trl'" in imported.stderr


def test_the_wheel_ships_the_lmms_eval_tasks(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    package = REPO / "modeling_unifer"
    assert {f"unifer/{path.relative_to(package)}" for path in task_files()} <= names
