"""Streamlit glue shared by the pages: cached reads of igcore.dashboard, keyed on the store file's state.

Not a page itself (app.py lists the pages). Cache keys include the file's modification time, so a CLI import
made while the dashboard runs shows up on the next rerun.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from igcore.dashboard import models
from igcore.dashboard import overview as dashboard
from igcore.interests.scoring import ModelScorer
from igcore.paths import default_db_path
from igcore.progress import Progress
from igcore.store import Store


def _stamp(path: Path) -> float:
    wal = path.with_name(path.name + ".wal")
    return max((p.stat().st_mtime for p in (path, wal) if p.exists()), default=0.0)


def store_path() -> Path:
    """The store every page works on (``$IGCORE_DB`` or data/igcore.duckdb)."""
    return default_db_path()


def stamp() -> float:
    """Changes whenever the store file does: pass it to ``st.cache_data`` functions as part of their key."""
    return _stamp(store_path())


def progress_bar(label: str) -> Progress:
    """A ``Progress`` callback drawing one ``st.progress`` bar (``.bar.empty()`` removes it when done).

    Works from worker threads too (the importer reports DuckDB's read progress from a polling thread): such a
    thread is given this script run's context, without which Streamlit refuses the update."""
    bar = st.progress(0.0, text=label)
    ctx = get_script_run_ctx()

    def report(stage: str, done: int, total: int, info: dict[str, Any]) -> None:
        if ctx is not None and get_script_run_ctx(suppress_warning=True) is None:
            add_script_run_ctx(threading.current_thread(), ctx)
        frac = min(done / total, 1.0) if total else 0.0
        bar.progress(frac, text=f"{label}: {stage}")

    report.bar = bar  # type: ignore[attr-defined]
    return report


@st.cache_resource(show_spinner="Loading the trained model")
def _live_model(path: str, checkpoint_stamp: float) -> models.LiveModel | None:
    return models.load_live_model(Path(path))


def live_model() -> models.LiveModel | None:
    """The store's trained pipeline, or None before any training: loaded once per checkpoint, then brought up
    to date with the events stored since (online updates, no reload)."""
    path = store_path()
    live = _live_model(str(path), checkpoint_stamp())
    if live is not None:
        with Store(path, read_only=True) as store:
            live.catch_up(store)
    return live


def checkpoint_stamp() -> float:
    """Changes whenever the store's model is retrained: pass it to caches of anything the model decides."""
    return models.checkpoint_version(store_path())


def model_scorer() -> ModelScorer | None:
    """The live model as the interest graphs use it (None before any training)."""
    live = live_model()
    return live.scorer if live is not None else None
def prepare(path: Path) -> None:
    """Make the store ready; the first start loads the bundled sample with a progress bar."""
    if st.session_state.get("prepared") == str(path):
        return
    progress = progress_bar("Preparing the store (the first start loads the bundled sample)")
    for summary in dashboard.prepare_store(path, progress):
        st.toast(summary.splitlines()[0])
    progress.bar.empty()
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
