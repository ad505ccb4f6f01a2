"""Where things live: the default store, the bundled sample, the repository root."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
SAMPLE_DIR = DATA_DIR / "sample"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def default_db_path() -> Path:
    """The store used when none is named: ``$IGCORE_DB`` or ``data/igcore.duckdb``."""
    return Path(os.environ.get("IGCORE_DB") or DATA_DIR / "igcore.duckdb")
