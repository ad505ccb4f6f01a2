"""Cohorts: interests rising and fading across all users, drift and popularity as private releases (noisy,
cached, charged to the store's privacy budget), and for analysts the latest change points of single users."""

import math
from pathlib import Path

import plotly.express as px
import streamlit as st

from igcore.dashboard import cohorts
from igcore.dashboard.axes import axis_format
from igcore.dashboard.types import PER_USER_NOTE, BudgetExhausted, DataFrame, Release, Timestamp
from pages import common

DAY_CHOICES = [7, 14, 30, 60, 90, 180, 365]
PERCENT = st.column_config.NumberColumn(format="percent")


@st.cache_data(show_spinner=False)
def _span(path: str, stamp: float) -> tuple[Timestamp, Timestamp] | None:
    return cohorts.snapshot_span(Path(path))


@st.cache_data(show_spinner="Releasing the users' trend")
def _trend(path: str, stamp: float, days: int) -> Release:
    return cohorts.trend(Path(path), days)


@st.cache_data(show_spinner="Releasing the drift figures")
def _drift(path: str, stamp: float) -> Release:
    return cohorts.jsd_histogram(Path(path))


@st.cache_data(show_spinner=False)
def _points(path: str, stamp: float) -> Release:
    return cohorts.change_point_counts(Path(path))


@st.cache_data(show_spinner=False)
def _changes(path: str, stamp: float) -> DataFrame:
    return cohorts.latest_changes(Path(path))


@st.cache_data(show_spinner="Releasing weekly popularity")
def _popularity(path: str, stamp: float) -> tuple[DataFrame, Release]:
    return cohorts.popularity(Path(path))


def private(read, *args):
    """The release ``read`` returns, or None after a one-line notice when the privacy budget is spent."""
    try:
        return read(*args)
    except BudgetExhausted as exc:
        st.warning(str(exc))
        return None


st.title("Cohorts")
path, stamp = str(common.store_path()), common.stamp()
span = _span(path, stamp)
if span is None:
    st.info("No interest snapshots yet, so there is nothing to compare across users. Snapshots are built on the "
            "first start when the store has events and an item catalogue (categories, brands or titles): import "
            "a catalogue on the Data page, then build them with `igcore snapshots` (or restart the dashboard).")
else:
    st.caption(f"Snapshots from {span[0]:%Y-%m-%d} to {span[1]:%Y-%m-%d} (UTC). Every figure here but the "
               "latest change points is a differentially private release: counts and shares carry noise, and "
               "cells of too few users are left out.")

    st.subheader("Rising and fading interests")
    days = st.select_slider("Compare each user's interests now with this many days before the latest snapshot",
                            options=DAY_CHOICES, value=30, key="cohort_days")
    made = private(_trend, path, stamp, days)
    if made is not None:
        trend = made.frame
        users = float(trend["users"].iloc[0]) if len(trend) else math.nan
        if math.isnan(users):
            st.info(f"Too few users on both sides of the cut {days} days before the latest snapshot to publish "
                    f"(under {made.min_cohort}, counted with noise): choose another number of days.")
        else:
            st.caption(f"About {users:,.0f} users active before and after the cut. Change: mean share after "
                       "minus before (each user's last snapshot on each side).")
            chart = cohorts.trend_chart(trend)
            if chart.empty:
                st.info("No interest's share changed.")
            else:
                fig = px.bar(chart, x="label", y="change", color="direction", title="Change in mean share",
                             color_discrete_map={"rising": "#2a9d8f", "fading": "#e76f51"},
                             labels={"label": "interest", "change": "change in share"})
                fig.update_xaxes(**axis_format(chart["label"], "category"))
                fig.update_yaxes(**axis_format(chart["change"], "percent"))
                st.plotly_chart(fig, width="stretch")
            st.dataframe(trend, width="stretch", hide_index=True,
                         column_config={"share_before": PERCENT, "share_after": PERCENT, "change": PERCENT})
        st.caption(made.caption())

    st.subheader("How much users drift")
    jsd, points = private(_drift, path, stamp), private(_points, path, stamp)
    left, right = st.columns(2)
    if jsd is not None:
        fig = px.bar(jsd.frame, x="jsd from", y="users", title="Users by mean change between snapshots (JSD)",
                     labels={"jsd from": "Jensen-Shannon divergence (bin start)"})
        fig.update_traces(width=cohorts.JSD_BIN * 0.9, offset=0)
        fig.update_xaxes(**axis_format([*jsd.frame["jsd from"], jsd.frame["jsd from"].max() + cohorts.JSD_BIN],
                                       "number"))
        fig.update_yaxes(**axis_format(jsd.frame["users"], "count"))
        left.plotly_chart(fig, width="stretch")
        left.caption(jsd.caption())
    if points is not None:
        fig = px.bar(points.frame, x="change points", y="users", title="Change points per user")
        fig.update_xaxes(**axis_format(points.frame["change points"], "category"))  # "5+" would read as no number
        fig.update_yaxes(**axis_format(points.frame["users"], "count"))
        right.plotly_chart(fig, width="stretch")
        right.caption(points.caption())

    st.subheader("Latest change points")
    changes = _changes(path, stamp) if common.sees_user_data() else None
    if changes is None:
        st.caption("Single users' change points are shown to analysts only.")
    elif changes.empty:
        st.info("No change points found yet (a user needs a few dozen events before one can be detected).")
    else:
        st.caption(PER_USER_NOTE)
        st.dataframe(changes, width="stretch", hide_index=True)
        pick = st.selectbox("User", list(dict.fromkeys(changes["user_id"])), key="cohort_user")
        st.page_link("pages/explorer.py", label="Open this user in the explorer", icon=":material/person_search:",
                     query_params={"user": pick})

    st.subheader("Interest popularity over time")
    found = private(_popularity, path, stamp)
    if found is not None:
        weekly, made = found
        if weekly.empty:
            st.info("No week had enough active users to publish its shares.")
        else:
            fig = px.area(weekly, x="week", y="share", color="shown", labels={"shown": "interest"},
                          title="Mean share of the users active each week")
            fig.update_yaxes(**axis_format(weekly.groupby("week")["share"].sum(), "percent"))  # stacked
            st.plotly_chart(fig, width="stretch")
        st.caption(made.caption())

st.subheader("Privacy budget")
account, ledger = cohorts.budget(Path(path))
cols = st.columns(3)
cols[0].metric("Epsilon spent", f"{account.spent.normalize():f}", help=f"of {account.budget.normalize():f}")
cols[1].metric("Epsilon left", f"{account.left.normalize():f}")
cols[2].metric("Releases", f"{account.releases:,}")
st.caption("Each new release spends epsilon from the store's budget; a release shown again spends nothing. New "
           "data (an import, rebuilt snapshots) makes the next view a new release. `igcore privacy` sets the "
           "budget.")
if len(ledger):
    st.dataframe(ledger, width="stretch", hide_index=True)
