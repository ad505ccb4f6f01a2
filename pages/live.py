"""Live: add events for real and watch one user's interests and recommendations move; ask what-if questions."""

import datetime as dt
from pathlib import Path

import plotly.express as px
import streamlit as st

from igcore.dashboard import live as dashboard
from igcore.dashboard.axes import axis_format
from igcore.dashboard.types import PER_USER_NOTE, DataFrame
from pages import common

PERCENT = st.column_config.NumberColumn(format="percent", width=80)
SHARES = {"share": PERCENT, "share before": PERCENT, "share after": PERCENT, "predicted": PERCENT,
          "change (pp)": st.column_config.NumberColumn(format="%+.1f", width=90)}
# Each table shows the columns that fit half a laptop's width; the frames keep their ids.
TEXT = {name: st.column_config.TextColumn(width=width) for name, width in
        (("label", 200), ("title", 210), ("interest", 110), ("move", 70))}
RANK = {"rank": st.column_config.NumberColumn(width=50), "rank before": st.column_config.NumberColumn(width=60),
        "score": st.column_config.NumberColumn(format="%.4f", width=80)}
COLUMNS = {**SHARES, **TEXT, **RANK}
INTERESTS = ["label", "share", "events", "predicted"]
COMPARED = ["label", "share before", "share after", "change (pp)"]
RECS = ["rank", "title", "score", "interest"]
MOVED = ["rank", "title", "rank before", "move"]
LEFT = ["rank before", "title", "interest"]


@st.cache_data(show_spinner=False)
def _has_snapshots(path: str, stamp: float) -> bool:
    return dashboard.has_snapshots(Path(path))


@st.cache_data(show_spinner=False)
def _users(path: str, stamp: float) -> list[str]:
    return dashboard.active_users(Path(path))


@st.cache_data(show_spinner=False)
def _state(path: str, stamp: float, user: str) -> dashboard.UserState | None:
    return dashboard.user_state(Path(path), user)


@st.cache_data(show_spinner=False)
def _items(path: str, stamp: float) -> DataFrame:
    return dashboard.item_choices(Path(path))


@st.cache_data(show_spinner="Computing the interest graph", max_entries=16)
def _view(path: str, stamp: float, user: str, model_key: int | None, _live) -> dashboard.View:
    return dashboard.current_view(Path(path), user, _live.scorer if _live is not None else None)


def _comparison(cmp: dashboard.Comparison, before: dashboard.View, after_label: str, key: str) -> None:
    """Interest shares before and after (table and chart), the two top-K lists, and what left the list."""
    left, right = st.columns(2)
    left.dataframe(cmp.interests, hide_index=True, column_order=COMPARED, column_config=COLUMNS,
                   key=f"{key}_interests")
    fig = px.bar(cmp.chart, x="label", y="share", color="state", barmode="group", title="Interest shares",
                 labels={"label": "interest"}, color_discrete_map={"before": "#a8dadc", "after": "#2a9d8f"})
    fig.update_yaxes(**axis_format(cmp.chart["share"], "percent"))
    fig.update_xaxes(**axis_format(cmp.chart["label"], "category"))
    right.plotly_chart(fig, width="stretch", key=f"{key}_chart")
    left, right = st.columns(2)
    left.markdown("**Recommendations before**")
    left.dataframe(before.recommendations, hide_index=True, column_order=RECS, column_config=COLUMNS,
                   key=f"{key}_before")
    right.markdown(f"**Recommendations {after_label}**")
    right.dataframe(cmp.recommendations, hide_index=True, column_order=MOVED, column_config=COLUMNS,
                    key=f"{key}_after")
    if not cmp.left.empty:
        st.markdown("**Left the top-K**")
        st.dataframe(cmp.left, hide_index=True, column_order=LEFT, column_config=COLUMNS, key=f"{key}_left")


def _graph(view: dashboard.View) -> None:
    # graph_html escapes every text from the data; st.iframe replaces st.components.v1.html (deprecated in 1.67)
    st.iframe(view.html, height=700)


st.title("Live")
st.caption(PER_USER_NOTE)
path, stamp = common.store_path(), common.stamp()
if not _has_snapshots(str(path), stamp):
    st.info("No interest snapshots yet, so there is no interest graph to update. They are built on the first start "
            "when the store has events and an item catalogue (categories, brands or titles): import a catalogue "
            "on the Data page, then build them with `igcore snapshots` (or restart the dashboard).")
    st.stop()

live = common.live_model()
model_key = live.last_event_id if live is not None else None
if live is None:
    st.info("No trained model yet: recommendations come from the evidence scorer (exact and built in). Train a "
            "model on the Pipeline page to see its online updates here.")
users = _users(str(path), stamp)
wanted = st.query_params.get("user")
options = users if wanted is None or wanted in users else [wanted, *users]
user = st.selectbox("User (most recently active first; type an id to pick another)", options,
                    index=options.index(wanted) if wanted in options else 0, accept_new_options=True,
                    key="live_user")
if user is None:
    st.stop()
ss = st.session_state


def _last_add(user: str, stamp: float) -> dashboard.AddResult | None:
    """The add shown until the store changes: the last one, if it was this user's and nothing came after it."""
    found = ss.get("live_add_result")
    return found[2] if found is not None and found[:2] == (user, stamp) else None


def _view_now(user: str, stamp: float) -> dashboard.View | None:
    """The user's view at ``stamp``: the one the last add computed, else the cached one (None without events)."""
    added = _last_add(user, stamp)
    if added is not None and added.after is not None:
        return added.after
    return _view(str(path), stamp, user, model_key, live) if _state(str(path), stamp, user) is not None else None


if ss.get("live_add_submit") or ss.get("live_import"):
    # This run answers an add: do it before anything below is read, so the whole page shows the store after it
    # (count, last time, next default time) in this one run.
    old = _view_now(user, stamp)
    if ss.get("live_add_submit"):
        data, name = dashboard.event_csv([(user, ss["live_item"], ss["live_type"], ss["live_time"])]), "live form"
    else:
        data, name = ss["live_upload"].getvalue(), ss["live_upload"].name
    with st.spinner("Importing, updating the snapshots and the model"):
        result = dashboard.add_events(path, user, data, name, live, old)
    stamp = common.stamp()
    ss["live_add_result"] = (user, stamp, result)  # shown until the store changes
state = _state(str(path), stamp, user)
added = _last_add(user, stamp)
before = _view_now(user, stamp)  # ``before`` the next action
if state is None:
    st.warning("This user has no events yet: add one below to start their interest graph.")
else:
    st.caption(f"{state.events:,} events, the last at {state.last_ts:%Y-%m-%d %H:%M:%S} UTC. "
               f"Recommendations: {before.graph.scorer} scorer.")
items = _items(str(path), stamp)
titles = dict(zip(items["item_id"], items["title"].fillna("")))


def _item_label(item_id: str) -> str:
    return f"{titles.get(item_id) or item_id} ({item_id})"


add_tab, what_if_tab = st.tabs(["Add events", "What if"])
with add_tab:
    default_time = state.next_time if state is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)
    default_text = f"{default_time:%Y-%m-%dT%H:%M:%S}"
    if ss.get("live_time_for") != (user, default_text):  # a new user or a new last event
        ss["live_time_for"], ss["live_time"] = (user, default_text), default_text
    with st.form("live_add"):  # the add itself runs at the top of the next run (above)
        cols = st.columns([3, 2, 2])
        cols[0].selectbox("Item", items["item_id"], format_func=_item_label, key="live_item")
        cols[1].selectbox("Event type", dashboard.EVENT_TYPES, key="live_type")
        cols[2].text_input("Time (UTC; ISO-8601 or unix seconds)", key="live_time")
        st.form_submit_button("Add the event", type="primary", key="live_add_submit")
    upload = st.file_uploader("Or import a CSV of events (the same columns as an events import)", type=["csv"],
                              key="live_upload")
    if upload is not None:
        st.button("Import the file", key="live_import")
    result = added
    if result is not None:
        report = result.report
        cols = st.columns(4)
        cols[0].metric("Updated in", f"{result.seconds:.2f} s", help="from the click to the graph below, measured")
        cols[1].metric("Loaded", report.rows_loaded)
        cols[2].metric("Quarantined", report.rows_quarantined)
        cols[3].metric("Duplicates", report.rows_duplicate)
        if report.status == "already_imported":
            st.info("This file was imported before: nothing changed.")
        elif report.rows_quarantined:
            st.warning("Some rows were quarantined:")
            st.dataframe(DataFrame({"reason": list(report.reasons), "rows": list(report.reasons.values())}),
                         hide_index=True)
        st.caption(f"Snapshots: {result.snapshots}. Model: {result.model}.")
        if len(result.touched) > 1 or (result.touched and result.touched[0] != user):
            st.dataframe(DataFrame({"users with new events": result.touched}), hide_index=True)
        if result.comparison is not None:
            _comparison(result.comparison, result.before, "after", "added")
        if result.after is not None:
            _graph(result.after)
    elif before is not None:
        left, right = st.columns(2)
        shown = [c for c in INTERESTS if c != "predicted" or before.interests[c].notna().any()]
        left.dataframe(before.interests, hide_index=True, column_order=shown, column_config=COLUMNS)
        right.dataframe(before.recommendations, hide_index=True, column_order=RECS, column_config=COLUMNS)
        _graph(before)

with what_if_tab:
    if state is None:
        st.info("A what-if needs a user with events.")
    else:
        with st.form("live_what_if"):
            cols = st.columns([3, 2])
            w_item = cols[0].selectbox("If this user now…", items["item_id"], format_func=_item_label,
                                       key="whatif_item")
            w_type = cols[1].selectbox("Event type", dashboard.EVENT_TYPES, index=3, key="whatif_type")
            asked = st.form_submit_button("Show the effect")
        if asked:
            with st.spinner("Computing without writing anything"):
                answer = dashboard.what_if(path, user, w_item, w_type, state.next_time, live, before)
            st.session_state["live_what_if_result"] = (user, stamp, answer)
        found = st.session_state.get("live_what_if_result")
        if found is not None and found[:2] == (user, stamp):
            answer = found[2]
            st.caption(f"{answer.scorer} Nothing was written. Computed in {answer.seconds:.2f} s.")
            _comparison(answer.comparison, answer.before, "if it happened", "what_if")
            with st.expander("The interest graph as if it happened"):
                _graph(answer.after)
