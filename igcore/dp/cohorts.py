"""Private cohort views: the Cohorts page's and ``igcore drift``'s aggregates, released with differential privacy.

Each view bounds what one user can move (its L1 sensitivity, below), adds Laplace noise of that scale over the
release's epsilon (:mod:`igcore.dp.mechanism`) and is made, cached and charged through :mod:`igcore.dp.ledger`.
The cells every view can have are fixed before the data is read (the catalogue's interests, fixed bins, the
weeks before the latest snapshot), so that which cells appear says nothing about any user. The time span of the
snapshots (their latest time, which places the cut and the weeks) is taken as public, as a report's date range
is; every count and share is private.

- trend: per interest of the primary kind, the mean share before and after a cut ``days`` before the latest
  snapshot over the users active on both sides. A user adds at most 1 to the users count, and shares summing to
  at most 1 before and at most 1 after: half the epsilon for the count (sensitivity 1), half for the share sums
  (sensitivity 2). Shares are noisy sums over the noisy count; all is suppressed under the minimum cohort.
- drift: users by the mean Jensen-Shannon divergence between their consecutive snapshots (one bin a user).
- change points: users by their number of change points, the last bin open-ended (one bin a user).
- popularity: per week of the last ``weeks``, the mean share of each interest over the users active that week
  (their last snapshot of the week). A user adds at most 1 to a week's count and shares summing to 1 to its
  sums, in every one of the weeks: sensitivity ``weeks`` for the counts and for the sums, half the epsilon each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from igcore.dp.ledger import PrivateQuery
from igcore.dp.mechanism import laplace, noisy_counts, suppress
from igcore.errors import IgcoreError
from igcore.interests.drift import cohort
from igcore.interests.schema import has_tables, read_state
from igcore.store import Store

JSD_BIN = 0.05  # width of the drift bins (JSD in base 2 lies in [0, 1])
CHANGE_POINT_BINS = 6  # users with 0, 1, ... and the last bin for that many or more
POPULARITY_WEEKS = 12
_PRIMARY = "(SELECT json_extract_string(value, '$[0]') FROM interest_state WHERE key = 'kinds')"


def data_version(store: Store) -> str:
    """What the views read, changed by every import and every snapshot build or update."""
    if not has_tables(store) or "config" not in read_state(store):
        raise IgcoreError("this store has no interest snapshots yet: build them first (igcore snapshots)")
    imports, snapshots, latest = store.rows(
        "SELECT (SELECT coalesce(max(import_id), 0) FROM imports), count(*), max(snapshot_at) "
        "FROM interest_snapshots")[0]
    config = store.value("SELECT value FROM interest_state WHERE key = 'config'")
    return f"{imports}|{snapshots}|{latest}|{config}"


def trend_query(days: float) -> PrivateQuery:
    """Rising and fading interests: interest, label, users, share_before, share_after, change (NaN when
    suppressed), rising first."""
    def compute(store: Store, epsilon: float, min_cohort: int, rng: np.random.Generator) -> pd.DataFrame:
        exact = cohort(store, days)
        users = float(exact["users"].iloc[0]) if len(exact) else 0.0
        n = noisy_counts([users], 1, epsilon / 2, rng, min_cohort)[0]
        sums = laplace(np.concatenate([exact["share_before"], exact["share_after"]]) * users, 2, epsilon / 2, rng)
        before, after = (np.clip(suppress(part / max(n, 1.0), [n], min_cohort), 0.0, 1.0)
                         for part in np.split(sums, 2))
        out = pd.DataFrame({"interest": exact["interest"], "label": exact["label"], "users": n,
                            "share_before": before, "share_after": after, "change": after - before})
        return out.sort_values(["change", "interest"], ascending=[False, True], na_position="last",
                               ignore_index=True)
    return PrivateQuery("trend", {"days": float(days)}, data_version, compute)


def drift_query() -> PrivateQuery:
    """Users by their mean change between consecutive snapshots: jsd from, jsd to, users (NaN: suppressed)."""
    def compute(store: Store, epsilon: float, min_cohort: int, rng: np.random.Generator) -> pd.DataFrame:
        bins = round(1 / JSD_BIN)
        counts = dict(store.rows(
            "SELECT least(floor(j / ?), ?)::INTEGER AS b, count(*) FROM (SELECT avg(jsd) AS j FROM "
            "interest_snapshots WHERE jsd IS NOT NULL GROUP BY user_id) GROUP BY b", [JSD_BIN, bins - 1]))
        edges = np.arange(bins)
        return pd.DataFrame({"jsd from": edges * JSD_BIN, "jsd to": (edges + 1) * JSD_BIN,
                             "users": noisy_counts([counts.get(int(b), 0) for b in edges], 1, epsilon, rng,
                                                   min_cohort)})
    return PrivateQuery("drift", {"bin": JSD_BIN}, data_version, compute)


def change_points_query() -> PrivateQuery:
    """Users by their number of change points: change points ("0", "1", ..., "5+"), users (NaN: suppressed)."""
    def compute(store: Store, epsilon: float, min_cohort: int, rng: np.random.Generator) -> pd.DataFrame:
        last = CHANGE_POINT_BINS - 1
        counts = dict(store.rows("""
            SELECT least(coalesce(c.n, 0), ?) AS b, count(*)
            FROM (SELECT DISTINCT user_id FROM interest_snapshots) u
            LEFT JOIN (SELECT user_id, count(*) AS n FROM interest_changes GROUP BY user_id) c USING (user_id)
            GROUP BY b""", [last]))
        names = [str(b) for b in range(last)] + [f"{last}+"]
        return pd.DataFrame({"change points": names, "users": noisy_counts(
            [counts.get(b, 0) for b in range(CHANGE_POINT_BINS)], 1, epsilon, rng, min_cohort)})
    return PrivateQuery("change_points", {"bins": CHANGE_POINT_BINS}, data_version, compute)


def popularity_query(weeks: int = POPULARITY_WEEKS) -> PrivateQuery:
    """Week by week, each primary-kind interest's mean share over the users active that week: week, interest,
    label, users, share (NaN for a week under the minimum cohort)."""
    def compute(store: Store, epsilon: float, min_cohort: int, rng: np.random.Generator) -> pd.DataFrame:
        last = store.value("SELECT date_trunc('week', max(snapshot_at)) FROM interest_snapshots")
        if last is None:
            return pd.DataFrame(columns=["week", "interest", "label", "users", "share"])
        days = pd.Timestamp(last) - pd.to_timedelta(7 * np.arange(weeks)[::-1], unit="D")
        nodes = store.df(f"SELECT interest, label FROM interest_nodes WHERE kind = {_PRIMARY} ORDER BY interest")
        exact = store.df(f"""
            WITH last AS (SELECT user_id, date_trunc('week', snapshot_at) AS week, max(snapshot_no) AS no
                          FROM interest_snapshots WHERE snapshot_at >= ? GROUP BY ALL)
            SELECT l.week, w.interest, sum(w.share) AS total
            FROM last l JOIN interest_weights w ON w.user_id = l.user_id AND w.snapshot_no = l.no
            WHERE w.kind = {_PRIMARY} GROUP BY ALL""", [days[0].to_pydatetime()])  # _PRIMARY: SQL from code
        active = dict(store.rows("SELECT date_trunc('week', snapshot_at) AS week, count(DISTINCT user_id) "
                                 "FROM interest_snapshots WHERE snapshot_at >= ? GROUP BY week",
                                 [days[0].to_pydatetime()]))
        grid = pd.MultiIndex.from_product([days, nodes["interest"]], names=["week", "interest"])
        totals = exact.set_index(["week", "interest"])["total"].reindex(grid, fill_value=0.0)
        users = noisy_counts([active.get(d.to_pydatetime(), 0) for d in days], weeks, epsilon / 2, rng, min_cohort)
        noisy = laplace(totals.to_numpy(), weeks, epsilon / 2, rng).reshape(len(days), len(nodes))
        shares = np.clip(suppress(noisy / np.maximum(users, 1.0)[:, None], users[:, None], min_cohort), 0.0, 1.0)
        return pd.DataFrame({"week": np.repeat(days, len(nodes)),
                             "interest": np.tile(nodes["interest"], len(days)),
                             "label": np.tile(nodes["label"], len(days)),
                             "users": np.repeat(users, len(nodes)), "share": shares.ravel()})
    return PrivateQuery("popularity", {"weeks": int(weeks)}, data_version, compute)
