"""``unifer export space``: the Space folder, ready to push: ``app.py``, ``README.md`` and a ``requirements.txt``
that installs ``unifer`` from where it is published (``unifer`` is not on PyPI, so the line is given)."""

from __future__ import annotations

import re
from pathlib import Path

from unifer.metrics.export import write_folder

SPACE_FILES = ("app.py", "README.md", "requirements.txt")
EXAMPLE_REQUIREMENT = "unifer @ git+https://github.com/OWNER/unifer.git@v0.1.0"
# PEP 508's direct reference: the name (extras allowed), "@", a URL.
_URL_REQUIREMENT = re.compile(r"unifer(\[[\w,\s-]*\])?\s*@\s*[a-z][\w+.-]*://\S+", re.IGNORECASE)


def unifer_requirement(line: str) -> str:
    """``line`` checked as a pip requirement that installs ``unifer`` from a URL (a git repository, a wheel)."""
    if not _URL_REQUIREMENT.fullmatch(line.strip()):
        raise ValueError(
            f"--unifer-requirement {line!r} must install unifer from a URL (unifer is not on PyPI), e.g. "
            f"{EXAMPLE_REQUIREMENT!r}."
        )
    return line.strip()


def space_files(requirement: str) -> dict[str, str]:
    """The Space's files by name; ``requirements.txt`` starts with the ``unifer`` requirement."""
    folder = Path(__file__).parent
    files = {name: (folder / name).read_text(encoding="utf-8") for name in SPACE_FILES}
    files["requirements.txt"] = f"{unifer_requirement(requirement)}\n{files['requirements.txt']}"
    return files


def export_space(out_dir: str | Path, requirement: str, *, overwrite: bool = False) -> list[Path]:
    """Write the Space folder into ``out_dir`` (other content in it is replaced only with ``overwrite``)."""
    return write_folder(out_dir, space_files(requirement), overwrite=overwrite)
