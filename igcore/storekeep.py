"""A server's store kept open between its reads, for a short idle window.

DuckDB keeps a database instance (its catalogue, its cached blocks, the lookup indexes it has read) only while a
connection to it is open. The dashboard opens the store for each read and closes it after, so without a kept
connection every read of a large store starts cold: it opens the file again and reads the events' index from
disk again. :func:`keep` holds one extra connection per file while reads keep coming; a daemon thread
closes it once the file has been idle for the window, so a command line writer (one process at a time may
hold a DuckDB file) waits no longer than that after the last page run. Only a process that opts in
(``Store.keep_open_s``, set by the dashboard's server) keeps anything.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb

_LOCK = threading.Lock()
_KEPT: dict[str, tuple[duckdb.DuckDBPyConnection, float]] = {}  # file -> (connection, last use)
_REAPER: list[threading.Thread] = []


def keep(path: Path, idle_s: float) -> bool:
    """Keep the database of ``path`` open until it has been unused for ``idle_s`` seconds; a file already kept
    has its last use moved to now. Called while a read-write connection to ``path`` is open, so the kept one
    joins its database instance (DuckDB's instance cache; a cursor would not keep the instance findable, and a
    second instance of one file in one process must never exist). True when this call started keeping it."""
    name, now = str(Path(path).resolve()), time.monotonic()
    with _LOCK:
        kept = _KEPT.get(name)
        _KEPT[name] = (kept[0] if kept else duckdb.connect(str(path)), now)
        if not _REAPER:  # cleared, under this lock, by a reaper that returns
            _REAPER.append(threading.Thread(target=_reap, args=(idle_s,), name="igcore-store-keeper", daemon=True))
            _REAPER[0].start()
        return kept is None


def touch(path: Path) -> None:
    """A use of ``path`` that ends now (a store closed): its idle window starts again."""
    name = str(Path(path).resolve())
    with _LOCK:
        if name in _KEPT:
            _KEPT[name] = (_KEPT[name][0], time.monotonic())


def release(path: Path) -> None:
    """Stop keeping ``path`` now (before replacing the file, say)."""
    with _LOCK:
        kept = _KEPT.pop(str(Path(path).resolve()), None)
    if kept is not None:
        kept[0].close()


def is_kept(path: Path) -> bool:
    with _LOCK:
        return str(Path(path).resolve()) in _KEPT


def _reap(idle_s: float) -> None:
    """Close each kept connection idle for ``idle_s``; return when none is left (the next keep starts again)."""
    while True:
        time.sleep(max(min(idle_s / 4, 1.0), 0.01))
        now, done = time.monotonic(), []
        with _LOCK:
            for name, (con, used) in list(_KEPT.items()):
                if now - used >= idle_s:
                    done.append(con)
                    del _KEPT[name]
            last = not _KEPT
            if last:
                _REAPER.clear()
        for con in done:
            con.close()
        if last:
            return
