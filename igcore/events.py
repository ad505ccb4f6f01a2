"""The core's event types and reads: the stored log as index arrays, and the few store reads every layer needs.

``Interactions`` is what every stage, the trainer and the evaluation harness work on. Users and items are
numbered 0..n-1 once, for the whole log, so splits of the same log share one index and a score matrix's columns
are the full catalogue of items that occur in the log. The named reads below (the latest event id, whether
there are events, which imports the log holds) are written once here rather than as SQL in each caller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from igcore.store import Store


@dataclasses.dataclass(frozen=True)
class Interactions:
    """Events in time order (ties broken by arrival order). Fields are parallel arrays."""

    user: np.ndarray  # int64 user index
    item: np.ndarray  # int64 item index
    ts: np.ndarray  # int64 seconds since the epoch (UTC)
    event_type: np.ndarray  # int16 code into ``type_names``
    user_ids: np.ndarray  # object: original id of each user index
    item_ids: np.ndarray  # object: original id of each item index
    type_names: tuple[str, ...]

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)

    def subset(self, mask_or_index: np.ndarray) -> Interactions:
        """The chosen events, same user and item numbering, order kept."""
        return dataclasses.replace(
            self, user=self.user[mask_or_index], item=self.item[mask_or_index], ts=self.ts[mask_or_index],
            event_type=self.event_type[mask_or_index])

    def concat(self, other: Interactions) -> Interactions:
        """This log followed by ``other`` (same numbering); order is kept, not re-sorted."""
        return dataclasses.replace(
            self, user=np.concatenate([self.user, other.user]), item=np.concatenate([self.item, other.item]),
            ts=np.concatenate([self.ts, other.ts]), event_type=np.concatenate([self.event_type, other.event_type]))

    def sequences(self) -> list[np.ndarray]:
        """Each user's items in time order, indexed by user (empty arrays for users without events here)."""
        order = np.argsort(self.user, kind="stable")
        counts = np.bincount(self.user, minlength=self.n_users)
        return split_at(self.item[order], np.cumsum(counts)[:-1])

    def positions_in_user(self) -> np.ndarray:
        """For each event, how many events of the same user precede it here (0 for the first)."""
        order = np.argsort(self.user, kind="stable")
        counts = np.bincount(self.user, minlength=self.n_users)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        pos = np.empty(len(self), dtype=np.int64)
        pos[order] = np.arange(len(self)) - starts
        return pos


def split_at(values: np.ndarray, cuts: np.ndarray) -> list[np.ndarray]:
    """``np.split(values, cuts)`` (views of the runs between ascending ``cuts``) without its cost per piece,
    which dominates when there is a piece per user."""
    bounds = [0, *np.asarray(cuts, dtype=np.int64).tolist(), len(values)]
    return [values[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def from_arrays(users: list | np.ndarray, items: list | np.ndarray, ts: list | np.ndarray,
                event_types: list | np.ndarray | None = None) -> Interactions:
    """Build from raw ids; events are sorted by time with ties kept in the given order."""
    users, items, ts = np.asarray(users, dtype=object), np.asarray(items, dtype=object), np.asarray(ts, np.int64)
    types = np.asarray(event_types if event_types is not None else ["interaction"] * len(users), dtype=object)
    order = np.argsort(ts, kind="stable")
    user_ids, user = np.unique(users.astype(str), return_inverse=True)
    item_ids, item = np.unique(items.astype(str), return_inverse=True)
    type_names, codes = np.unique(types.astype(str), return_inverse=True)
    return Interactions(user[order].astype(np.int64), item[order].astype(np.int64), ts[order],
                        codes[order].astype(np.int16), user_ids.astype(object), item_ids.astype(object),
                        tuple(type_names.tolist()))


def load_interactions(store: Store, after_event_id: int | None = None,
                      through_event_id: int | None = None) -> Interactions:
    """All stored events in (ts, event_id) order; only those with ``after_event_id < event_id <=
    through_event_id`` when given (the events imported since a point, for online updates)."""
    bounds = [("event_id > ?", after_event_id), ("event_id <= ?", through_event_id)]
    given = [(sql, int(v)) for sql, v in bounds if v is not None]
    where = ("WHERE " + " AND ".join(sql for sql, _ in given)) if given else ""
    params = [v for _, v in given]
    # DuckDB numbers the ids (sorted as from_arrays sorts them: by code point), so no id string reaches Python
    # per event; the distinct ids come apart, once each. Each id's number comes from a join with the numbered
    # distinct ids, which costs less than ranking every event.
    cols = store.con.execute(f"""
        WITH e AS (SELECT user_id, item_id, event_type, ts, event_id FROM events {where}),
             u AS (SELECT user_id, (row_number() OVER (ORDER BY user_id) - 1)::BIGINT AS user_code
                   FROM (SELECT DISTINCT user_id FROM e)),
             i AS (SELECT item_id, (row_number() OVER (ORDER BY item_id) - 1)::BIGINT AS item_code
                   FROM (SELECT DISTINCT item_id FROM e)),
             t AS (SELECT event_type, (row_number() OVER (ORDER BY event_type) - 1)::SMALLINT AS type_code
                   FROM (SELECT DISTINCT event_type FROM e))
        SELECT user_code, item_code, type_code, epoch(e.ts)::BIGINT AS seconds
        FROM e JOIN u USING (user_id) JOIN i USING (item_id) JOIN t USING (event_type)
        ORDER BY e.ts, e.event_id""", params).fetchnumpy()

    def ids(column: str) -> np.ndarray:
        rows = store.rows(f"SELECT DISTINCT {column} FROM events {where} ORDER BY 1", params)
        return np.array([r[0] for r in rows], dtype=object)

    return Interactions(cols["user_code"], cols["item_code"], cols["seconds"], cols["type_code"], ids("user_id"),
                        ids("item_id"), tuple(ids("event_type").tolist()))


def last_event_id(store: Store) -> int:
    """The id of the latest stored event (0 for an empty store): a bound for "events since"."""
    return int(store.value("SELECT coalesce(max(event_id), 0) FROM events"))


def has_events(store: Store) -> bool:
    return bool(store.value("SELECT count(*) > 0 FROM events"))


def event_import_ids(store: Store) -> list[int]:
    """The imports the stored events came from, in order."""
    return [int(r[0]) for r in store.rows("SELECT DISTINCT import_id FROM events ORDER BY 1")]


def users_since(store: Store, after_event_id: int) -> list[str]:
    """The distinct users of the events stored after ``after_event_id``, by id."""
    return [r[0] for r in store.rows("SELECT DISTINCT user_id FROM events WHERE event_id > ? ORDER BY 1",
                                     [int(after_event_id)])]


def user_event_count(store: Store, user_id: str) -> int:
    return int(store.value("SELECT count(*) FROM events WHERE user_id = ?", [user_id]))


def users_items_since(store: Store, after_event_id: int) -> list[tuple[str, str]]:
    """The distinct (user, item) pairs of the events stored after ``after_event_id``."""
    return [(u, i) for u, i in store.rows(
        "SELECT DISTINCT user_id, item_id FROM events WHERE event_id > ? ORDER BY 1, 2", [int(after_event_id)])]


def newcomers(known: Sequence[str], ids: np.ndarray, codes: np.ndarray) -> list[str]:
    """The ids ``ids[codes]`` names (events' codes into their id array) that ``known`` lacks, each once, in the
    order of their first event; only the events of such ids are searched."""
    known = set(known)
    new = np.fromiter((x not in known for x in ids), dtype=bool, count=len(ids))
    if not new.any():
        return []
    values, first = np.unique(codes[new[codes]], return_index=True)
    return ids[values[np.argsort(first, kind="stable")]].tolist()
