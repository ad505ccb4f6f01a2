"""The Cohorts page's reads: interests rising and fading across all users, how much users drift, the latest
change points, and interest popularity week by week. All from the stored snapshots; no Streamlit here.

Figures get their labels through :func:`igcore.dashboard.live.chart_labels` (HTML-escaped: plotly renders
some HTML in labels); tables keep the raw text, which ``st.dataframe`` shows as text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from igcore.dashboard.live import chart_labels
from igcore.interests.drift import cohort, recent_changes
from igcore.interests.snapshots import stored_config
from igcore.store import Store

JSD_BIN = 0.05  # width of the drift histogram's bins (JSD in base 2 lies in [0, 1])

_PRIMARY = "(SELECT json_extract_string(value, '$[0]') FROM interest_state WHERE key = 'kinds')"


def snapshot_span(path: Path) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last snapshot time, or None when no snapshots were built."""
    with Store(path, read_only=True) as store:
        if stored_config(store) is None:
            return None
        lo, hi = store.rows("SELECT min(snapshot_at), max(snapshot_at) FROM interest_snapshots")[0]
    return (pd.Timestamp(lo), pd.Timestamp(hi)) if lo is not None else None


def trend(path: Path, days: float) -> pd.DataFrame:
    """Per interest of the primary kind: mean share before and after the cut ``days`` before the latest
    snapshot (users active on both sides), the change, emergences, fadings and change points after the cut."""
    with Store(path, read_only=True) as store:
        return cohort(store, days)


def trend_chart(frame: pd.DataFrame, top: int = 15) -> pd.DataFrame:
    """The interests that moved, for a bar chart: the ``top`` rising and ``top`` fading ones, labels escaped."""
    moved = frame[frame["change"].abs() > 1e-12]
    shown = pd.concat([moved[moved["change"] > 0].nlargest(top, "change"),
                       moved[moved["change"] < 0].nsmallest(top, "change")])
    return pd.DataFrame({"label": chart_labels(shown["label"], shown["interest"]).to_numpy(),
                         "change": shown["change"].to_numpy(),
                         "direction": np.where(shown["change"] > 0, "rising", "fading")})


def jsd_histogram(path: Path) -> pd.DataFrame:
    """How far each snapshot moved from the user's previous one: snapshots per JSD bin, every bin listed."""
    with Store(path, read_only=True) as store:
        counts = dict(store.rows("SELECT least(floor(jsd / ?), ?)::INTEGER AS b, count(*) FROM interest_snapshots "
                                 "WHERE jsd IS NOT NULL GROUP BY b", [JSD_BIN, round(1 / JSD_BIN) - 1]))
    bins = np.arange(round(1 / JSD_BIN))
    return pd.DataFrame({"jsd from": bins * JSD_BIN, "jsd to": (bins + 1) * JSD_BIN,
                         "snapshots": [int(counts.get(int(b), 0)) for b in bins]})


def change_point_counts(path: Path) -> pd.DataFrame:
    """How many users have 0, 1, 2, ... change points."""
    with Store(path, read_only=True) as store:
        return store.df("""
            SELECT coalesce(c.n, 0) AS "change points", count(*) AS users
            FROM (SELECT DISTINCT user_id FROM interest_snapshots) u
            LEFT JOIN (SELECT user_id, count(*) AS n FROM interest_changes GROUP BY user_id) c USING (user_id)
            GROUP BY 1 ORDER BY 1""")


def latest_changes(path: Path, top: int = 20) -> pd.DataFrame:
    """The latest change points across users: when, who, which interest emerged and which faded (labels)."""
    with Store(path, read_only=True) as store:
        found = recent_changes(store, top)
        labels = dict(store.rows("SELECT interest, label FROM interest_nodes"))
    return pd.DataFrame({"time": found["ts"], "user_id": found["user_id"], "emerged": found["label"],
                         "faded": found["faded"].map(labels), "jsd": found["jsd"],
                         "event": found["event_index"]})


def popularity(path: Path, top: int = 12) -> pd.DataFrame:
    """Week by week, the mean share of each primary-kind interest over the users active that week (each user's
    last snapshot of the week counts once); interests beyond the ``top`` most popular are summed as "other".
    Columns: week, interest, label, shown (the label escaped for a figure), share."""
    with Store(path, read_only=True) as store:
        frame = store.df(f"""
            WITH last AS (SELECT user_id, date_trunc('week', snapshot_at) AS week, max(snapshot_no) AS no
                          FROM interest_snapshots GROUP BY ALL),
                 active AS (SELECT week, count(*) AS users FROM last GROUP BY week)
            SELECT l.week, w.interest, n.label, sum(w.share) / any_value(a.users) AS share
            FROM last l JOIN interest_weights w ON w.user_id = l.user_id AND w.snapshot_no = l.no
            JOIN active a ON a.week = l.week JOIN interest_nodes n ON n.interest = w.interest
            WHERE w.kind = {_PRIMARY} AND w.share > 0
            GROUP BY l.week, w.interest, n.label ORDER BY l.week, w.interest""")  # _PRIMARY: SQL from code
    if frame.empty:
        return frame
    leaders = frame.groupby("interest")["share"].sum().sort_values(ascending=False).index[:top]
    rest = frame[~frame["interest"].isin(leaders)]
    other = rest.groupby("week", as_index=False)["share"].sum().assign(interest="other", label="other")
    out = pd.concat([frame[frame["interest"].isin(leaders)], other], ignore_index=True)
    names = out.drop_duplicates("interest")
    shown = dict(zip(names["interest"], chart_labels(names["label"], names["interest"])))
    out["shown"] = out["interest"].map(shown)
    return out.sort_values(["week", "interest"], ignore_index=True)[["week", "interest", "label", "shown", "share"]]
