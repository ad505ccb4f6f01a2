"""Shared fixtures: a fresh DuckDB store file per test, offline model hub, the shared datasets or a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from igcore.paths import SHARED_DATA  # noqa: E402
from igcore.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def store(db_path: Path):
    with Store(db_path) as s:
        yield s


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a clean skip on a fresh clone that lacks it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (fresh clone): dataset tests skipped")
    return SHARED_DATA


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
