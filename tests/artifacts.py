"""Helpers for testing Hub artifacts as their users get them: a Python where ``unifer`` cannot be imported, the
imports a folder's code makes, and pip's resolver on a requirements file."""

import ast
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

#: Prepended to a script run by :func:`run_without_unifer`: any import of ``unifer`` fails, as where it is absent.
BLOCK_UNIFER = textwrap.dedent("""
    import importlib.abc, sys
    class BlockUnifer(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "unifer" or name.startswith("unifer."):
                raise ImportError("unifer is blocked in this test")
    sys.meta_path.insert(0, BlockUnifer())
    try:
        import unifer
        raise SystemExit("unifer was importable")
    except ImportError:
        pass
""")


def run_without_unifer(script: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh Python whose ``unifer`` imports fail, from ``cwd``; raise with its output if it
    fails."""
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_UNIFER + textwrap.dedent(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def imported_distributions(folder: Path) -> dict[str, set[str]]:
    """``{distribution: modules}`` for the installed third-party modules the folder's Python files import (the
    folder's own modules, relative imports and the standard library aside)."""
    local = {path.stem for path in folder.glob("*.py")}
    owners = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in local or top == "__future__":
                    continue
                for distribution in owners.get(top, [top]):
                    found.setdefault(canonical(distribution), set()).add(top)
    return found


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def requirements(path: Path) -> list[Requirement]:
    """The requirements of a requirements file (comments and blank lines aside)."""
    lines = [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [Requirement(line) for line in lines if line]


def pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


def pip_resolves(requirements_file: Path) -> None:
    """Check with pip's resolver (nothing installed) that PyPI alone satisfies ``requirements_file``; skips when
    PyPI cannot be reached."""
    if not pypi_reachable():
        pytest.skip("PyPI is not reachable: pip's resolver cannot check the requirements")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--no-input"]
        + ["--disable-pip-version-check", "-r", str(requirements_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]


#: What a wheel of this checkout is built from (copied, so the build leaves the checkout untouched).
DISTRIBUTION_SOURCES = ("setup.py", "pyproject.toml", "README.md")
PACKAGE_FOLDERS = ("modeling_unifer", "dataset_scripts", "trainers", "metrics", "space")


def build_wheel(repo: Path, out: Path) -> Path:
    """``pip wheel --no-deps`` of the checkout (offline: the installed setuptools builds it)."""
    source = out / "source"
    source.mkdir(parents=True)
    for name in DISTRIBUTION_SOURCES:
        shutil.copy(repo / name, source / name)
    for name in PACKAGE_FOLDERS:
        shutil.copytree(repo / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "results"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = out.glob("unifer-*.whl")
    return wheel


def wheel_requirements(wheel: Path) -> list[Requirement]:
    """The ``Requires-Dist`` entries of a wheel's metadata."""
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode()
    return [
        Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines() if line.startswith("Requires-Dist:")
    ]


def installed_closure(roots: list[Requirement]) -> tuple[set[str], set[str]]:
    """(installed distributions that ``roots`` need, transitively; required names that are not installed here),
    following markers and extras as pip would."""
    found: set[str] = set()
    missing: set[str] = set()
    expanded: set[tuple[str, str]] = set()  # (distribution, extra): "" for its base requirements
    todo = [(requirement, "") for requirement in roots]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonical(requirement.name)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        found.add(name)
        for wanted in ["", *requirement.extras]:
            if (name, wanted) not in expanded:
                expanded.add((name, wanted))
                todo += [(Requirement(line), wanted) for line in distribution.requires or []]
    return found, missing


def link_distributions(names: set[str], target: Path) -> None:
    """Symlink the installed files of ``names`` (their top-level packages, modules, bundled libraries and
    metadata) into ``target``: a site folder holding only these distributions."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        distribution = metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in distribution.files or []}:
            source = Path(distribution.locate_file(top))
            if top != ".." and source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)


def venv_with(site: Path, venv: Path) -> tuple[Path, Path]:
    """A new venv (no pip, no system site-packages) that also sees ``site``; returns its Python and its
    site-packages folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "linked_distributions.pth").write_text(f"{site}\n")
    return python, Path(purelib)
