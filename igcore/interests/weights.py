"""Time-decayed evidence at snapshot points: the one formula behind interest weights, edges and item weights.

The observed weight of key ``k`` (an interest, an edge, an item) for user ``u`` at time ``t`` is

    W(u, k, t) = sum over u's contributions c to k with c before t of  w_c * 0.5 ** ((t - ts_c) / half_life)

where ``w_c`` is the event-type weight for interest and item evidence and 1 for edges. A snapshot point covers
the first ``end`` events of its user and is taken at ``at``, the time of the last of them (or a chosen time).
Everything here is pure numpy over :class:`~igcore.interests.events.UserLog` rows: each contribution is paired
with every later point of its user (no loop per event), which is exact and costs the sum over users of
events x points.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from igcore.interests.config import DAY_S, parse_cadence
from igcore.interests.events import UserLog


@dataclasses.dataclass(frozen=True)
class Points:
    """Snapshot points sorted by (user, no). ``end``: how many of the user's events each covers."""

    user: np.ndarray  # int64 user index into the log
    no: np.ndarray  # int64 1-based number within the user
    end: np.ndarray  # int64
    at: np.ndarray  # float64 seconds

    def __len__(self) -> int:
        return len(self.user)

    def subset(self, mask: np.ndarray) -> Points:
        return Points(self.user[mask], self.no[mask], self.end[mask], self.at[mask])


def decay(age_s: np.ndarray | float, half_life_s: float) -> np.ndarray:
    """0.5 ** (age / half_life): evidence loses half its weight every half-life."""
    return np.power(0.5, np.asarray(age_s, dtype=np.float64) / half_life_s)


def period_index(ts: np.ndarray, kind: str) -> np.ndarray:
    """UTC day number, or week number with weeks starting on Monday (1970-01-01 was a Thursday)."""
    days = np.floor(np.asarray(ts, dtype=np.float64) / DAY_S).astype(np.int64)
    return days if kind == "day" else (days + 3) // 7


def snapshot_points(log: UserLog, cadence: str) -> Points:
    """``events:N``: after a user's first event and after every N-th; ``day``/``week``: at the last event of each
    period in which the user was active. So every user with an event has a snapshot from their first event on;
    events after a user's last point belong to no snapshot yet."""
    kind, n = parse_cadence(cadence)
    pos = log.pos
    if kind == "events":
        marks = (pos == 0) | ((pos + 1) % n == 0)
    else:
        period = period_index(log.ts, kind)
        marks = np.ones(len(log), dtype=bool)
        marks[:-1] = (log.user[1:] != log.user[:-1]) | (period[1:] != period[:-1])
    rows = np.flatnonzero(marks)
    user = log.user[rows]
    first = np.searchsorted(user, user, side="left")
    return Points(user, np.arange(len(rows)) - first + 1, pos[rows] + 1, log.ts[rows])


def points_at(log: UserLog, at: float) -> Points:
    """One point per user with events up to ``at``, taken at ``at`` itself (the graph "as of" a time)."""
    covered = np.bincount(log.user[log.ts <= at], minlength=log.n_users)
    users = np.flatnonzero(covered)
    return Points(users, np.ones(len(users), dtype=np.int64), covered[users], np.full(len(users), float(at)))


def decayed_sums(points: Points, log: UserLog, rows: np.ndarray, keys: np.ndarray, weights: np.ndarray,
                 half_life_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sum of decayed contributions per (point, key). A contribution is (log row, key, weight); it counts for
    every point of the same user that covers its row. Returns (point index, key, decayed sum, count), sorted."""
    rows, keys, weights = np.asarray(rows, np.int64), np.asarray(keys, np.int64), np.asarray(weights, np.float64)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))
    if len(points) == 0 or len(rows) == 0:
        return empty
    point_end_row = log.start[points.user] + points.end  # exclusive; increasing, as points are sorted
    first = np.searchsorted(point_end_row, rows, side="right")
    last = np.searchsorted(points.user, log.user[rows], side="right") - 1  # the user's last point
    count = np.maximum(last - first + 1, 0)
    if count.sum() == 0:
        return empty
    which = np.repeat(np.arange(len(rows)), count)
    offsets = np.arange(len(which)) - np.repeat(np.cumsum(count) - count, count)
    point = np.repeat(first, count) + offsets
    value = weights[which] * decay(points.at[point] - log.ts[rows[which]], half_life_s)
    width = int(keys.max()) + 1
    uniq, inverse = np.unique(point * width + keys[which], return_inverse=True)
    sums = np.bincount(inverse, weights=value, minlength=len(uniq))
    counts = np.bincount(inverse, minlength=len(uniq))
    return uniq // width, uniq % width, sums, counts


def transitions(log: UserLog, code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive events of a user whose interests differ: (row of the later event, from, to)."""
    later = np.arange(1, len(log))
    ok = (log.user[later] == log.user[later - 1]) & (code[later] >= 0) & (code[later - 1] >= 0) \
        & (code[later] != code[later - 1])
    later = later[ok]
    return later, code[later - 1], code[later]


def cooccurrences(log: UserLog, code: np.ndarray, gap_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sessions in which two interests both occur: (row where the second of them first appears, lower code,
    higher code). A session ends at a pause longer than ``gap_s`` or at another user."""
    if len(log) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    new = np.ones(len(log), dtype=bool)
    new[1:] = (log.user[1:] != log.user[:-1]) | (np.diff(log.ts) > gap_s)
    first = pd.DataFrame({"session": np.cumsum(new), "code": code, "row": np.arange(len(log))})
    first = first[first["code"] >= 0].drop_duplicates(["session", "code"])
    multi = first[first.groupby("session")["code"].transform("size") > 1]
    pairs = multi.merge(multi, on="session", suffixes=("_a", "_b"))
    pairs = pairs[pairs["row_a"] < pairs["row_b"]]
    lo = np.minimum(pairs["code_a"], pairs["code_b"]).to_numpy()
    hi = np.maximum(pairs["code_a"], pairs["code_b"]).to_numpy()
    return pairs["row_b"].to_numpy(np.int64), lo.astype(np.int64), hi.astype(np.int64)
