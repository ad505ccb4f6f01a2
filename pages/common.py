"""Streamlit glue shared by the pages: cached reads of igcore.dashboard, keyed on the store file's state.

Not a page itself (app.py lists the pages). Cache keys include the file's modification time, so a CLI import
made while the dashboard runs shows up on the next rerun.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from igcore import dashboard
from igcore.paths import default_db_path


def _stamp(path: Path) -> float:
    wal = path.with_name(path.name + ".wal")
    return max((p.stat().st_mtime for p in (path, wal) if p.exists()), default=0.0)


def prepare(path: Path) -> None:
    """Make the store ready; the first start loads the bundled sample with a progress bar."""
    if st.session_state.get("prepared") == str(path):
        return
    bar = st.empty()

    def progress(stage: str, done: int, total: int, info: dict[str, Any]) -> None:
        if total:
            bar.progress(min(done / total, 1.0), text=f"Loading the bundled sample: {stage}")

    for summary in dashboard.prepare_store(path, progress):
        st.toast(summary.splitlines()[0])
    bar.empty()
    st.session_state["prepared"] = str(path)


@st.cache_data(show_spinner=False)
def _overview(path: str, stamp: float) -> dict[str, Any]:
    return dashboard.overview(Path(path))


@st.cache_data(show_spinner=False)
def _imports(path: str, stamp: float) -> pd.DataFrame:
    return dashboard.import_log(Path(path))


@st.cache_data(show_spinner=False)
def _quarantine(path: str, stamp: float) -> pd.DataFrame:
    return dashboard.quarantine_rows(Path(path))


def overview() -> dict[str, Any]:
    path = default_db_path()
    return _overview(str(path), _stamp(path))


def imports() -> pd.DataFrame:
    path = default_db_path()
    return _imports(str(path), _stamp(path))


def quarantine() -> pd.DataFrame:
    path = default_db_path()
    return _quarantine(str(path), _stamp(path))
