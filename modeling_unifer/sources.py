"""Where models and datasets come from: a local folder or file, or a Hugging Face Hub id.

Checked before anything heavy loads, so that a typo reads "no such folder: …" rather than a long Hub-offline
traceback minutes into a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal


def check_source(name: str, kind: Literal["model", "dataset"], option: str) -> None:
    """Raise ``FileNotFoundError`` when ``name`` is neither a local path nor a Hub id that can be reached.

    A name that cannot be a Hub id (``./x``, ``/x``, ``a/b/c``…) must exist locally. A Hub id is accepted online
    (the Hub answers for itself); offline (``HF_HUB_OFFLINE=1``) it must already be in the local Hub cache.
    ``option`` names the flag the user set, for the message."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    if Path(name).expanduser().exists():
        return
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise FileNotFoundError(f"{option}: no such folder: {name}") from None
    if not constants.HF_HUB_OFFLINE:
        return
    try:
        snapshot_download(name, repo_type=kind, local_files_only=True)
    except (LocalEntryNotFoundError, OSError):
        raise FileNotFoundError(
            f"{option}: no such folder: {name} (nor a Hub {kind} id in the offline cache; HF_HUB_OFFLINE is set, so "
            "nothing is downloaded: give a local folder, or unset HF_HUB_OFFLINE to fetch it)"
        ) from None
