"""Paths and skip markers shared by the tests."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The official FERBench index files live beside the checkout (../shared), never inside it.
SHARED_FERBENCH = Path(os.environ.get("UNIFER_FERBENCH_INDEX", REPO.parent / "shared" / "ferbench"))

requires_shared = pytest.mark.skipif(
    not (SHARED_FERBENCH / "rafdb_qa.json").exists(),
    reason=f"official FERBench index files not found in {SHARED_FERBENCH} (set UNIFER_FERBENCH_INDEX)",
)
