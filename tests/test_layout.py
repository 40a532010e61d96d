"""The package layout's rules, checked on the source: the library never imports the CLI, imports across folders are
absolute (the folder → package mapping in setup.py is invisible on disk), and library modules import no cycle."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Folder on disk -> package it installs as (setup.py's package_dir).
FOLDERS = {
    "modeling_unifer": "unifer",
    "dataset_scripts": "unifer.data",
    "trainers": "unifer.trainers",
    "metrics": "unifer.metrics",
    "space": "unifer.space",
}


def library_files():
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "commands" not in path.relative_to(ROOT).parts:
                yield path


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    dotted = [FOLDERS[parts[0]], *parts[1:]]
    return ".".join(dotted[:-1] if dotted[-1] == "__init__" else dotted)


def imported_modules(path: Path) -> list[tuple[int, int, str]]:
    """(line, relative level, module) of every import statement."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.level, node.module or ""))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, 0, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("path", list(library_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_library_never_imports_the_cli(path):
    offenders = [
        line
        for line, level, module in imported_modules(path)
        if level == 0 and (module == "unifer.commands" or module.startswith("unifer.commands."))
    ]
    assert not offenders, f"{path.name} imports unifer.commands at lines {offenders}"


@pytest.mark.parametrize(
    "path",
    [p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_relative_imports_stay_inside_their_folder(path):
    """``from ..x`` would point, on disk, outside the folder: across folders, imports name ``unifer.…``."""
    folder_depth = len(path.relative_to(ROOT).parts) - 2  # sub-packages below the top-level folder
    offenders = [line for line, level, _ in imported_modules(path) if level > folder_depth + 1]
    assert not offenders, f"{path.name}: relative import leaves its folder at lines {offenders}"


@pytest.mark.slow
def test_every_library_module_imports_on_its_own():
    """Each module imports in a fresh interpreter state order-independently: an import cycle would fail here for
    whichever of its members is imported first."""
    import subprocess
    import sys

    names = sorted(module_name(path) for path in library_files() if path.parent.name != "fer_accuracy")
    names = [name for name in names if name != "unifer.space.app"]  # the Space's entry file builds the demo
    assert "unifer.inference" in names and "unifer.metrics.scoring" in names
    script = (
        "import importlib, sys\nfailed = []\nfor name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('unifer')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n        importlib.import_module(name)\n"
        "    except ImportError as err:\n        failed.append(f'{name}: {err}')\n"
        "print('\\n'.join(failed))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, *names], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", result.stdout


def test_cli_modules_register_every_command():
    commands = importlib.import_module("unifer.commands")
    parser = commands.build_parser()
    names = set(parser._subparsers._group_actions[0].choices)
    assert {"info", "quickstart", "score", "eval", "card", "train", "data", "space"} <= names


@pytest.mark.parametrize("stage, other", [("grpo", "sft"), ("sft", "grpo")])
def test_training_stages_share_code_through_common_not_each_other(stage, other):
    """What both trainers use (freezing, checkpoint loading, faces, system prompt, data shapes) lives in
    ``unifer.trainers.common``: neither stage imports the other."""
    modules = {module for _, _, module in imported_modules(ROOT / "trainers" / f"{stage}.py")}
    assert f"unifer.trainers.{other}" not in modules and other not in modules
    assert "unifer.trainers.common" in modules
