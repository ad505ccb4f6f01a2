"""What the dashboard pages read, as plain functions over a store path: no Streamlit here.

Pages call these through Streamlit's caches; each call opens the store briefly. The server keeps the database
open for a short idle window after the last (:mod:`igcore.storekeep`), so a visitor's reads in a row find it
warm, and the CLI can write once the dashboard has been idle that long (DuckDB allows one writer at a time).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from igcore.dashboard.explorer import catalogue_titles
from igcore.datasets import ensure_sample
from igcore.errors import IgcoreError
from igcore.events import has_events
from igcore.interests.config import InterestConfig
from igcore.interests.snapshots import build_snapshots, stored_config, timeline
from igcore.progress import Progress, no_progress
from igcore.store import Store


def prepare_store(path: Path, progress: Progress = no_progress) -> list[str]:
    """Create the store if needed, load the bundled sample into an empty one and build the interest snapshots
    when there are none yet; returns what was done, one line each."""
    with Store(path) as store:
        done = [r.summary() for r in ensure_sample(store, progress)]
        if has_events(store) and stored_config(store) is None:
            try:
                done.append(build_snapshots(store, InterestConfig(), progress=progress).summary())
            except IgcoreError as exc:  # e.g. no catalogue yet: the explorer says so when opened
                done.append(f"interest snapshots not built: {exc}")
        warm_reads(store)
        return done


def warm_reads(store: Store) -> None:
    """One user's explorer reads (events through the events' index, the stored timeline), one pass over the
    event columns those reads fetch and the catalogue's titles, so the first visitor does not pay for loading
    that index, the tables' metadata, the blocks a user's events lie in (spread over the whole log) or the
    titles: a kept store keeps them loaded."""
    user = store.value("SELECT user_id FROM events LIMIT 1")
    if user is None:
        return
    store.rows("SELECT count(*) FROM events WHERE user_id = ?", [user])
    store.rows("SELECT sum(hash(ts, item_id, event_type, event_id)) FROM events")
    catalogue_titles(store)
    if stored_config(store) is not None:
        timeline(store, user)


def overview(path: Path) -> dict[str, Any]:
    """Counts, time span and event-type mix of the store."""
    with Store(path, read_only=True) as store:
        return dataclasses.asdict(store.stats())


def import_log(path: Path) -> pd.DataFrame:
    with Store(path, read_only=True) as store:
        return store.imports()


IMPORT_COLUMNS = ["import_id", "kind", "file_name", "rows_loaded", "rows_quarantined", "rows_duplicate",
                  "rows_read", "status", "finished", "sha256"]
SHA_SHOWN = 12  # hex digits of a file's sha256 in a summary table: enough to tell the files apart


def import_table(log: pd.DataFrame) -> pd.DataFrame:
    """The import log as a summary table (Home): the counts right after the file name, the sha256 cut to its
    first ``SHA_SHOWN`` hex digits, the mapping and notes left to the Data page's full log."""
    out = log[[c for c in IMPORT_COLUMNS if c in log.columns]].copy()
    if "sha256" in out.columns:
        out["sha256"] = out["sha256"].map(lambda s: s[:SHA_SHOWN] if isinstance(s, str) else s)
    return out


def full_import_table(log: pd.DataFrame) -> pd.DataFrame:
    """The whole import log (Data page): the summary's columns first and in its order, so the counts sit beside
    the file name, then every other column (mapping, notes), the sha256 whole."""
    first = [c for c in IMPORT_COLUMNS if c in log.columns]
    return log[first + [c for c in log.columns if c not in first]]


def quarantine_rows(path: Path, limit: int = 500) -> pd.DataFrame:
    with Store(path, read_only=True) as store:
        return store.quarantined(limit=limit)
