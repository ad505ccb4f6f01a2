"""Drift views over stored snapshots: one user's drift timeline, the cohort's rising and fading interests.

Per snapshot the store already holds the Jensen-Shannon divergence from the user's previous snapshot and the
interests whose share rose or fell by ``emerge_delta`` (:mod:`igcore.interests.compute`); change points come
from :mod:`igcore.interests.changes`. The cohort view compares, for every user active on both sides of a cut
(``days`` before the latest snapshot), the primary-kind share of each interest in the user's last snapshot
before the cut with that in their last snapshot after it: the mean change over those users says which
interests are rising across all users.
"""

from __future__ import annotations

import pandas as pd

from igcore.errors import IgcoreError
from igcore.interests.schema import has_tables, read_state
from igcore.store import Store


def _require(store: Store) -> None:
    if not has_tables(store) or "config" not in read_state(store):
        raise IgcoreError("this store has no interest snapshots yet: build them first (igcore snapshots)")


def drift_timeline(store: Store, user_id: str) -> pd.DataFrame:
    """Snapshot by snapshot: time, events covered, top interest, JSD from the previous one, emerging and fading."""
    _require(store)
    return store.df("SELECT snapshot_no, snapshot_at, n_events, top_interest, jsd, emerging, fading "
                    "FROM interest_snapshots WHERE user_id = ? ORDER BY snapshot_no", [user_id])


def cohort(store: Store, days: float = 30.0) -> pd.DataFrame:
    """Per interest of the primary kind: users compared, mean share before and after the cut, the change,
    how often it emerged or faded between consecutive snapshots after the cut, and change points after it.
    Sorted by change, rising first."""
    _require(store)
    return store.df("""
        WITH cut AS (SELECT max(snapshot_at) - to_microseconds(CAST(? * 86400e6 AS BIGINT)) AS t
                     FROM interest_snapshots),
        last_before AS (SELECT user_id, max(snapshot_no) AS no FROM interest_snapshots, cut
                        WHERE snapshot_at < cut.t GROUP BY user_id),
        last_after AS (SELECT user_id, max(snapshot_no) AS no FROM interest_snapshots, cut
                       WHERE snapshot_at >= cut.t GROUP BY user_id),
        pairs AS (SELECT b.user_id, b.no AS before_no, a.no AS after_no FROM last_before b JOIN last_after a
                  USING (user_id)),
        kind AS (SELECT json_extract_string(value, '$[0]') AS k FROM interest_state WHERE key = 'kinds'),
        shares AS (
            SELECT w.interest, sum(CASE WHEN w.snapshot_no = p.before_no THEN w.share ELSE 0 END) AS before_sum,
                   sum(CASE WHEN w.snapshot_no = p.after_no THEN w.share ELSE 0 END) AS after_sum
            FROM interest_weights w JOIN pairs p USING (user_id), kind
            WHERE w.kind = kind.k AND (w.snapshot_no = p.before_no OR w.snapshot_no = p.after_no)
            GROUP BY w.interest),
        n AS (SELECT count(*) AS users FROM pairs),
        moves AS (
            SELECT interest, sum(emerged) AS emerged, sum(faded) AS faded FROM (
                SELECT unnest(emerging) AS interest, 1 AS emerged, 0 AS faded FROM interest_snapshots, cut
                WHERE snapshot_at >= cut.t
                UNION ALL
                SELECT unnest(fading), 0, 1 FROM interest_snapshots, cut WHERE snapshot_at >= cut.t)
            GROUP BY interest),
        points AS (SELECT interest, count(*) AS change_points FROM interest_changes, cut WHERE ts >= cut.t
                   GROUP BY interest)
        SELECT nd.interest, nd.label, n.users,
               coalesce(s.before_sum, 0) / greatest(n.users, 1) AS share_before,
               coalesce(s.after_sum, 0) / greatest(n.users, 1) AS share_after,
               (coalesce(s.after_sum, 0) - coalesce(s.before_sum, 0)) / greatest(n.users, 1) AS change,
               coalesce(m.emerged, 0)::BIGINT AS emerged, coalesce(m.faded, 0)::BIGINT AS faded,
               coalesce(c.change_points, 0)::BIGINT AS change_points
        FROM interest_nodes nd JOIN kind ON nd.kind = kind.k CROSS JOIN n
        LEFT JOIN shares s USING (interest) LEFT JOIN moves m USING (interest) LEFT JOIN points c USING (interest)
        ORDER BY change DESC, nd.interest""", [float(days)])


def recent_changes(store: Store, top: int = 10) -> pd.DataFrame:
    """The latest change points across users, with labels."""
    _require(store)
    return store.df("SELECT c.user_id, c.event_index, c.ts, c.interest, n.label, c.faded, c.jsd "
                    "FROM interest_changes c LEFT JOIN interest_nodes n USING (interest) "
                    "ORDER BY c.ts DESC, c.jsd DESC, c.user_id LIMIT ?", [int(top)])
