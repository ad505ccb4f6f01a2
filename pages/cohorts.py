"""Cohorts: interests rising and fading across all users, drift, the latest change points, popularity."""

from pathlib import Path

import plotly.express as px
import streamlit as st

from igcore.dashboard import cohorts
from igcore.dashboard.types import DataFrame, Timestamp
from pages import common

DAY_CHOICES = [7, 14, 30, 60, 90, 180, 365]
PERCENT = st.column_config.NumberColumn(format="percent")


@st.cache_data(show_spinner=False)
def _span(path: str, stamp: float) -> tuple[Timestamp, Timestamp] | None:
    return cohorts.snapshot_span(Path(path))


@st.cache_data(show_spinner="Comparing the users' interests")
def _trend(path: str, stamp: float, days: int) -> DataFrame:
    return cohorts.trend(Path(path), days)


@st.cache_data(show_spinner=False)
def _drift(path: str, stamp: float) -> tuple[DataFrame, DataFrame]:
    return cohorts.jsd_histogram(Path(path)), cohorts.change_point_counts(Path(path))


@st.cache_data(show_spinner=False)
def _changes(path: str, stamp: float) -> DataFrame:
    return cohorts.latest_changes(Path(path))


@st.cache_data(show_spinner="Weekly popularity")
def _popularity(path: str, stamp: float) -> DataFrame:
    return cohorts.popularity(Path(path))


st.title("Cohorts")
path, stamp = str(common.store_path()), common.stamp()
span = _span(path, stamp)
if span is None:
    st.info("No interest snapshots yet, so there is nothing to compare across users. Snapshots are built on the "
            "first start when the store has events and an item catalogue (categories, brands or titles): import "
            "a catalogue on the Data page, then build them with `igcore snapshots` (or restart the dashboard).")
else:
    st.caption(f"Snapshots from {span[0]:%Y-%m-%d} to {span[1]:%Y-%m-%d} (UTC).")

    st.subheader("Rising and fading interests")
    days = st.select_slider("Compare each user's interests now with this many days before the latest snapshot",
                            options=DAY_CHOICES, value=30, key="cohort_days")
    trend = _trend(path, stamp, days)
    users = int(trend["users"].iloc[0]) if len(trend) else 0
    if users == 0:
        st.info(f"No user has snapshots on both sides of the cut {days} days before the latest snapshot: "
                "choose another number of days.")
    else:
        st.caption(f"{users:,} users active before and after the cut. Change: mean share after minus before "
                   "(each user's last snapshot on each side).")
        chart = cohorts.trend_chart(trend)
        if chart.empty:
            st.info("No interest's share changed.")
        else:
            fig = px.bar(chart, x="label", y="change", color="direction", title="Change in mean share",
                         color_discrete_map={"rising": "#2a9d8f", "fading": "#e76f51"},
                         labels={"label": "interest", "change": "change in share"})
            fig.update_yaxes(tickformat=".0%")
            st.plotly_chart(fig, width="stretch")
        st.dataframe(trend, width="stretch", hide_index=True,
                     column_config={"share_before": PERCENT, "share_after": PERCENT, "change": PERCENT})

    st.subheader("How much users drift")
    jsd, points = _drift(path, stamp)
    left, right = st.columns(2)
    fig = px.bar(jsd, x="jsd from", y="snapshots", title="Change from the previous snapshot (JSD)", log_y=True,
                 labels={"jsd from": "Jensen-Shannon divergence (bin start)", "snapshots": "snapshots (log)"})
    fig.update_traces(width=cohorts.JSD_BIN * 0.9, offset=0)
    left.plotly_chart(fig, width="stretch")
    right.plotly_chart(px.bar(points, x="change points", y="users", title="Change points per user"),
                       width="stretch")

    st.subheader("Latest change points")
    changes = _changes(path, stamp) if common.sees_user_data() else None
    if changes is None:
        st.caption("Single users' change points are shown to analysts only.")
    elif changes.empty:
        st.info("No change points found yet (a user needs a few dozen events before one can be detected).")
    else:
        st.dataframe(changes, width="stretch", hide_index=True)
        pick = st.selectbox("User", list(dict.fromkeys(changes["user_id"])), key="cohort_user")
        st.page_link("pages/explorer.py", label="Open this user in the explorer", icon=":material/person_search:",
                     query_params={"user": pick})

    st.subheader("Interest popularity over time")
    weekly = _popularity(path, stamp)
    if weekly.empty:
        st.info("No weekly shares to show.")
    else:
        fig = px.area(weekly, x="week", y="share", color="shown", labels={"shown": "interest"},
                      title="Mean share of the users active each week")
        fig.update_yaxes(tickformat=".0%")
        st.plotly_chart(fig, width="stretch")
