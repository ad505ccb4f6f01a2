"""Each user's events in time order as flat arrays: the input of every interest computation.

Rows are grouped by user (users in id order) and, within a user, ordered by (ts, event_id), so position k of
a user is the k-th event of that user, as ``drift_truth.csv`` counts them. Everything downstream is
vectorised over these arrays; nothing loops per event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from igcore.interests.config import InterestConfig
from igcore.store import Store

_COLUMNS = "user_id, item_id, event_type, epoch(ts) AS ts, event_id"


@dataclasses.dataclass(frozen=True)
class UserLog:
    """Events of some users. Per-event arrays are parallel; ``user_ids``/``start`` are per user."""

    user_ids: np.ndarray  # object: id of each user index
    start: np.ndarray  # int64: first row of each user
    user: np.ndarray  # int64: user index of each event
    item_ids: np.ndarray  # object
    event_types: np.ndarray  # object
    ts: np.ndarray  # float64 seconds since the epoch (UTC)
    event_id: np.ndarray  # int64
    weight: np.ndarray  # float64 event-type weight

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(np.append(self.start, len(self.user)))

    @property
    def pos(self) -> np.ndarray:
        """Position of each event within its user's events (0 for the first)."""
        return np.arange(len(self.user)) - self.start[self.user]

    def __len__(self) -> int:
        return len(self.user)


def from_columns(user_ids: Sequence, item_ids: Sequence, event_types: Sequence, ts: Sequence,
                 event_id: Sequence | None, config: InterestConfig) -> UserLog:
    """Build from parallel columns in any order: sorts by (user, ts, event_id)."""
    users = np.asarray(user_ids, dtype=object).astype(str)
    ts_arr = np.asarray(ts, dtype=np.float64)
    ids = np.arange(len(users), dtype=np.int64) if event_id is None else np.asarray(event_id, dtype=np.int64)
    order = np.lexsort((ids, ts_arr, users))
    users = users[order]
    uniq, start = np.unique(users, return_index=True)
    user = np.repeat(np.arange(len(uniq)), np.diff(np.append(start, len(users))))
    types = np.asarray(event_types, dtype=object)[order]
    names, type_code = np.unique(types.astype(str), return_inverse=True)
    weights = np.array([config.type_weight(t) for t in names.tolist()], dtype=np.float64)
    return UserLog(uniq.astype(object), start.astype(np.int64), user.astype(np.int64),
                   np.asarray(item_ids, dtype=object)[order].astype(str).astype(object), types, ts_arr[order],
                   ids[order], weights[type_code] if len(types) else np.zeros(0))


def load_user_log(store: Store, config: InterestConfig, users: Sequence[str] | None = None,
                  until: float | None = None, run: bool = False) -> UserLog:
    """Stored events of ``users`` (all users when None), up to time ``until`` (seconds) when given; ``run``: the
    users are a run of :func:`user_chunks` over every user."""
    return read_user_log(store.con, config, users, until, run)


def read_user_log(con, config: InterestConfig, users: Sequence[str] | None = None,
                  until: float | None = None, run: bool = False) -> UserLog:
    """:func:`load_user_log` from the ``events`` table or view of a DuckDB connection (a Ray worker's view over
    an export's Parquet files). The time is applied here, not in SQL: a second condition beside the user's keeps
    DuckDB from looking the user up in the events' index (:meth:`~igcore.store.Store.ensure_lookup_indexes`), and
    one user's events are few. A ``run`` (every user with events from its first id to its last) is read by
    comparing ids with its ends, not by probing each event's id in a list of the run's ids."""
    where, params = "", []
    if users is not None and run and len(users):
        where, params = " WHERE user_id BETWEEN ? AND ?", [users[0], users[-1]]
    elif users is not None:
        where, params = " WHERE user_id IN (SELECT unnest(?::VARCHAR[]))", [list(users)]
    cols = con.execute(f"SELECT {_COLUMNS} FROM events{where}", params).fetchnumpy()
    if until is not None:
        keep = np.asarray(cols["ts"], dtype=np.float64) <= float(until)
        cols = {name: np.asarray(values)[keep] for name, values in cols.items()}
    return from_columns(cols["user_id"], cols["item_id"], cols["event_type"], cols["ts"], cols["event_id"], config)


def user_chunks(store: Store, max_events: int, users: Sequence[str] | None = None) -> list[list[str]]:
    """Users with events (all, or those of ``users``) in id order, cut into runs of at most ``max_events`` events
    (a user with more is a run alone): what one pass of snapshot building holds in memory. Over all users, a
    run's users are every user whose id lies between its first and last (what ``run=True`` reads)."""
    where, params = ("WHERE user_id IN (SELECT unnest(?::VARCHAR[])) ", [list(users)]) if users is not None else \
        ("", [])
    cols = store.con.execute(f"SELECT user_id, count(*) AS n FROM events {where}GROUP BY user_id ORDER BY user_id",
                             params).fetchnumpy()
    ids, counts = np.asarray(cols["user_id"], dtype=object), np.asarray(cols["n"], dtype=np.int64)
    chunks, lo, total = [], 0, 0
    for i, n in enumerate(counts.tolist()):
        if total and total + n > max_events:
            chunks.append(ids[lo:i].tolist())
            lo, total = i, 0
        total += n
    if lo < len(ids):
        chunks.append(ids[lo:].tolist())
    return chunks
