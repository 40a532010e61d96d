"""Where models and datasets come from: a local folder or file, or a Hugging Face Hub id. Decided here only.

Checked before anything heavy loads, so that a typo reads "no such folder: …" rather than a long Hub-offline
traceback minutes into a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

#: Single data files, by suffix, and the ``datasets`` builder that loads each: such a name is a path, never a Hub id.
DATA_FILE_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json"}


def looks_like_hub_id(name: str) -> bool:
    """Whether ``name`` could be a Hub repository id (``name`` or ``owner/name``) rather than only a local path:
    not ``./x``, ``~/x``, ``/x``, ``a/b/c``, nor a data file name (``rows.parquet``)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if name.startswith((".", "~")) or Path(name).suffix in DATA_FILE_BUILDERS:
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def resolved_source(name: str) -> str:
    """One spelling per source: a local path as its absolute, normalised path (``runs/m/``, ``./runs/m`` and
    ``/work/runs/m`` are one model), a Hub id as given."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def missing_source_error(name: str, option: str, detail: str | None = None) -> FileNotFoundError:
    """``no such folder: NAME (OPTION; DETAIL)`` (``file`` for a data file name): the one message for a model or
    dataset found neither on disk nor on the Hub. ``option`` names where the user set it."""
    kind = "file" if Path(name).suffix in DATA_FILE_BUILDERS else "folder"
    return FileNotFoundError(f"no such {kind}: {name} ({option}{f'; {detail}' if detail else ''})")


def check_source(name: str, kind: Literal["model", "dataset"], option: str) -> None:
    """Raise ``FileNotFoundError`` (:func:`missing_source_error`) when ``name`` is neither a local path nor a Hub id
    that can be reached.

    A name that cannot be a Hub id (:func:`looks_like_hub_id`) must exist locally. A Hub id is accepted online (the
    Hub answers for itself); offline (``HF_HUB_OFFLINE=1``) it must already be in the local Hub cache."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if Path(name).expanduser().exists():
        return
    if not looks_like_hub_id(name):
        raise missing_source_error(name, option)
    if not constants.HF_HUB_OFFLINE:
        return
    try:
        snapshot_download(name, repo_type=kind, local_files_only=True)
    except (LocalEntryNotFoundError, OSError):
        raise missing_source_error(
            name,
            option,
            f"nor a Hub {kind} id in the offline cache; HF_HUB_OFFLINE is set, so nothing is downloaded: give a "
            "local folder, or unset HF_HUB_OFFLINE to fetch it",
        ) from None
