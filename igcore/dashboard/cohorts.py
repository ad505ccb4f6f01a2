"""The Cohorts page's reads: interests rising and fading across all users, how much users drift, and interest
popularity week by week, each a differentially private release (:mod:`igcore.dp`: noisy, cached in the store,
charged to its epsilon budget); the latest change points of single users, which are no private release and
are for analysts only. All from the stored snapshots; no Streamlit here.

Figures get their labels through :func:`igcore.dashboard.live.chart_labels` (HTML-escaped: plotly renders
some HTML in labels); tables keep the raw text, which ``st.dataframe`` shows as text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from igcore.dashboard.live import chart_labels
from igcore.dp import cohorts as dp_cohorts
from igcore.dp.ledger import Accounting, Release, accounting, release, releases
from igcore.interests.drift import recent_changes
from igcore.interests.snapshots import stored_config
from igcore.store import Store

JSD_BIN = dp_cohorts.JSD_BIN


def snapshot_span(path: Path) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last snapshot time, or None when no snapshots were built."""
    with Store(path, read_only=True) as store:
        if stored_config(store) is None:
            return None
        lo, hi = store.rows("SELECT min(snapshot_at), max(snapshot_at) FROM interest_snapshots")[0]
    return (pd.Timestamp(lo), pd.Timestamp(hi)) if lo is not None else None


def trend(path: Path, days: float) -> Release:
    """The private release of rising and fading interests for a cut ``days`` before the latest snapshot:
    interest, label, users, share_before, share_after, change (NaN: suppressed), rising first."""
    return release(path, dp_cohorts.trend_query(days))


def trend_chart(frame: pd.DataFrame, top: int = 15) -> pd.DataFrame:
    """The interests that moved, for a bar chart: the ``top`` rising and ``top`` fading ones, labels escaped."""
    moved = frame[frame["change"].abs() > 1e-12]
    shown = pd.concat([moved[moved["change"] > 0].nlargest(top, "change"),
                       moved[moved["change"] < 0].nsmallest(top, "change")])
    return pd.DataFrame({"label": chart_labels(shown["label"], shown["interest"]).to_numpy(),
                         "change": shown["change"].to_numpy(),
                         "direction": np.where(shown["change"] > 0, "rising", "fading")})


def jsd_histogram(path: Path) -> Release:
    """The private release of users by their mean change between consecutive snapshots (JSD bins)."""
    return release(path, dp_cohorts.drift_query())


def change_point_counts(path: Path) -> Release:
    """The private release of users by their number of change points (the last bin open-ended)."""
    return release(path, dp_cohorts.change_points_query())


def latest_changes(path: Path, top: int = 20) -> pd.DataFrame:
    """The latest change points across users: when, who, which interest emerged and which faded (labels)."""
    with Store(path, read_only=True) as store:
        found = recent_changes(store, top)
        labels = dict(store.rows("SELECT interest, label FROM interest_nodes"))
    return pd.DataFrame({"time": found["ts"], "user_id": found["user_id"], "emerged": found["label"],
                         "faded": found["faded"].map(labels), "jsd": found["jsd"],
                         "event": found["event_index"]})


def popularity(path: Path, top: int = 12) -> tuple[pd.DataFrame, Release]:
    """Week by week, the private mean share of each primary-kind interest over the users active that week;
    interests beyond the ``top`` most popular (by their noisy shares) summed as "other", suppressed weeks left
    out. Columns: week, interest, label, shown (the label escaped for a figure), share; and the release."""
    made = release(path, dp_cohorts.popularity_query())
    frame = made.frame.dropna(subset=["share"])
    if frame.empty:
        return frame.assign(shown=pd.Series(dtype=str))[["week", "interest", "label", "shown", "share"]], made
    leaders = frame.groupby("interest")["share"].sum().sort_values(ascending=False).index[:top]
    rest = frame[~frame["interest"].isin(leaders)]
    other = rest.groupby("week", as_index=False)["share"].sum().assign(interest="other", label="other")
    out = pd.concat([frame[frame["interest"].isin(leaders)], other], ignore_index=True)
    names = out.drop_duplicates("interest")
    shown = dict(zip(names["interest"], chart_labels(names["label"], names["interest"])))
    out["shown"] = out["interest"].map(shown)
    out = out.sort_values(["week", "interest"], ignore_index=True)[["week", "interest", "label", "shown", "share"]]
    return out, made


def budget(path: Path) -> tuple[Accounting, pd.DataFrame]:
    """The store's privacy budget, what its releases spent, and the releases, newest first."""
    with Store(path, read_only=True) as store:
        return accounting(store), releases(store)
