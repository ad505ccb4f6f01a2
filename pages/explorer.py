"""User explorer: one user's interest graph at a chosen snapshot, how their interests and top-K moved, and why.

Reads go through igcore.dashboard.explorer, cached per (user, snapshot, store stamp); ``?user=ID`` opens a user.
"""

from pathlib import Path

import streamlit as st

from igcore.dashboard import explorer as ex
from igcore.dashboard.models import checkpoint_version
from igcore.dashboard.text import md_literal
from igcore.dashboard.types import PER_USER_NOTE, DataFrame, Timestamp
from pages import common

GRAPH_PX = 690  # the graph page's heading, legend and network


@st.cache_data(show_spinner=False)
def _built(path: str, stamp: float) -> bool:
    return ex.snapshots_built(Path(path))


@st.cache_data(show_spinner=False)
def _active(path: str, stamp: float) -> DataFrame:
    return ex.active_users(Path(path))


@st.cache_data(show_spinner=False)
def _find(path: str, text: str, stamp: float) -> DataFrame:
    return ex.find_users(Path(path), text)


@st.cache_data(show_spinner=False)
def _most_changed(path: str, users: tuple[str, ...], stamp: float) -> str | None:
    return ex.most_changed(Path(path), list(users))


@st.cache_data(show_spinner=False)
def _user_events(path: str, user: str, stamp: float) -> int:
    return ex.user_events(Path(path), user)


@st.cache_data(show_spinner=False)
def _forget_plan(path: str, user: str, stamp: float) -> str:
    return ex.forget_plan(Path(path), user)


@st.cache_data(show_spinner="Reading the user's timeline")
def _timeline(path: str, user: str, stamp: float) -> ex.ExplorerTimeline:
    return ex.load_timeline(Path(path), user)


@st.cache_data(show_spinner=False)
def _events(path: str, user: str, snapshot: int, at: Timestamp, stamp: float) -> DataFrame:
    return ex.events_until(Path(path), user, at)


@st.cache_data(show_spinner="Reading the model's interests")
def _model_view(path: str, user: str, stamp: float, model_version: float,
                _model=None) -> tuple[ex.GraphView, ex.ExplorerTimeline]:
    return ex.model_view(Path(path), user, _model)


@st.cache_data(show_spinner="Computing the interest graph")
def _graph(path: str, user: str, snapshot: int, at: Timestamp, stamp: float, model_version: float,
           _model=None) -> ex.GraphView:
    return ex.graph_view(Path(path), user, at, _model)


def pick_user(path: str, stamp: float) -> str | None:
    """The user chosen by the search box, the list of most active users or ``?user=``; None when none is."""
    param = st.query_params.get("user")
    left, right = st.columns([1, 2])
    text = left.text_input("Find a user by id or pseudonym",
                           placeholder="the whole id or a part of it, or p-... (its pseudonym)").strip()
    found = _find(path, text, stamp) if text else _active(path, stamp)
    if found.empty:
        st.warning("No user id or pseudonym matches that text." if text else
                   "The store holds no events yet: import some.")
        return None
    ids = found["user_id"].tolist()
    rows = list(found.itertuples(index=False))
    if param and param not in ids and not text:  # a linked user outside the list: first, labelled alike
        ids.insert(0, param)
        rows += list(_find(path, param, stamp).head(1).itertuples(index=False))
    labels = {u: f"{u} · {p} ({n:,} events)" for u, p, n in rows}
    start = param if param in ids else (None if text else _most_changed(path, tuple(ids), stamp)) or ids[0]
    user = right.selectbox("User" + (" (matches, most active first)" if text else " (most active first)"), ids,
                           index=ids.index(start), format_func=lambda u: labels.get(u, u))
    if user != param:
        st.query_params["user"] = user
    if _user_events(path, user, stamp) == 0:
        st.warning(f"No events of user {md_literal(user)} in this store: check the id, or pick a user above.")
        return None
    return user


def forget_section(path: str, user: str, stamp: float) -> None:
    """Analysts only, behind a confirmation: remove every trace of the user (igcore.forget)."""
    if common.role() != "analyst":
        return
    with st.expander("Forget this user"):
        st.write(f"What goes: {md_literal(_forget_plan(path, user, stamp))}. The model's serving state is rebuilt "
                 "without the user and the store file compacted, so the bytes are gone. The trained weights "
                 "reflect the user until the next training (Pipeline page).")
        sure = st.checkbox("I understand: this cannot be undone", key=f"forget_sure_{user}")
        if st.button("Forget this user", disabled=not sure, key=f"forget_{user}"):
            bar = common.progress_bar("Forgetting the user")
            st.session_state["forgotten"] = ex.forget_user(Path(path), user, common.role(), bar)
            common.drop_cached_state()
            st.query_params.pop("user", None)
            st.rerun()


SHARE = st.column_config.NumberColumn(format="percent", width=80)
RECS_SHOWN = {"rank": st.column_config.NumberColumn(width=50), "title": st.column_config.TextColumn(width=280),
              "score": st.column_config.NumberColumn(format="%.4f", width=80),
              "interest": st.column_config.TextColumn(width=150),
              "supporting interests": st.column_config.TextColumn("because of", width=240)}
WHY_INTERESTS = {"interest": st.column_config.TextColumn(width=240),
                 "contribution": st.column_config.NumberColumn(format="%.4f", width=100), "share": SHARE}
WHY_EVENTS = {"time": st.column_config.TextColumn(width=180), "title": st.column_config.TextColumn(width=280),
              "event_type": st.column_config.TextColumn("event", width=90), "share": SHARE}


def explain(view: ex.GraphView) -> None:
    """The recommendations and, for the chosen one, the interests and events behind its score: each table with
    the columns that fit a laptop's width (the frames keep ids for the tests and exports)."""
    st.subheader(f"Recommendations ({view.graph.scorer})")
    if view.recommendations.empty:
        st.info("No recommendations at this time (no item has a vector, or every item was seen).")
        return
    st.dataframe(view.recommendations, hide_index=True, column_order=list(RECS_SHOWN), column_config=RECS_SHOWN)
    titles = dict(zip(view.recommendations["rank"], view.recommendations["title"].fillna(
        view.recommendations["item_id"])))
    rank = st.selectbox("Why this recommendation?", list(titles), format_func=lambda r: f"#{r} {titles[r]}")
    interests, events, other = view.explanations[rank]
    st.caption("Supporting interests (share of the score)")
    st.dataframe(interests, hide_index=True, column_order=list(WHY_INTERESTS), column_config=WHY_INTERESTS)
    st.caption("Supporting events (the largest contributions)")
    st.dataframe(events, hide_index=True, column_order=list(WHY_EVENTS), column_config=WHY_EVENTS)
    method = view.graph.recommendations[0]["explanation"]["method"]
    st.caption(f"Attribution: {method}. Interest contributions sum to the score; the events listed and the "
               f"other events ({other:+.4f}) do too.")


def model_section(path: str, user: str, stamp: float, model) -> None:
    """The trained model's own interests: its slots now, why each recommendation, the slots over the events."""
    view, tl = _model_view(path, user, stamp, checkpoint_version(Path(path)), _model=model)
    st.header("The model's interests")
    st.caption("Each node is one of the model's interest slots for this user, weighted by the share of their "
               "recent behaviour routed to it and labelled by the catalogue interest of most of its best-scored "
               "items; the recommendations are ranked by the model's own score, and each names the slot that "
               "won it and the events that formed that slot.")
    st.iframe(view.html, height=GRAPH_PX)
    explain(view)
    st.plotly_chart(ex.timeline_figure(tl), width="stretch")
    st.caption("The slots' shares after each of the user's events (a slot is the same interest throughout); "
               "dashed lines: change points, where the interest the events belong to changes (an event belongs to the "
               "slot that scores its item highest).")


def main() -> None:
    st.title("User explorer")
    st.caption(PER_USER_NOTE)
    path, stamp = str(common.store_path()), common.stamp()
    if not _built(path, stamp):
        st.info("This store has no interest snapshots yet, and the explorer reads them: build them here "
                "(or run `igcore snapshots`).")
        if st.button("Build interest snapshots", type="primary"):
            bar = common.progress_bar("Building interest snapshots")
            summary = ex.build(Path(path), bar)
            bar.bar.empty()  # type: ignore[attr-defined]
            st.success(summary)
            st.rerun()
        return
    for line in st.session_state.pop("forgotten", []):
        st.success(md_literal(line))
    user = pick_user(path, stamp)
    if user is None:
        return
    forget_section(path, user, stamp)
    tl = _timeline(path, user, stamp)
    if tl.snapshots.empty:
        st.info("This user's events came after the last snapshot build: update the snapshots (`igcore snapshots`).")
        return
    snaps = tl.snapshots.set_index("snapshot_no")
    nos = snaps.index.tolist()
    no = st.select_slider("Time", options=nos, value=nos[-1], format_func=lambda n: snaps.at[n, "label"],
                          key=f"explorer_time_{user}_{len(nos)}")
    at, latest = snaps.at[no, "snapshot_at"], no == nos[-1]
    newer = _user_events(path, user, stamp) - int(snaps.at[nos[-1], "n_events"])
    if newer > 0:
        st.caption(f"{newer} newer events of this user are in no snapshot yet: the next snapshot is taken at the "
                   "configured cadence (every few events, or per day or week).")

    scorer = common.model_scorer() if latest else None
    model = scorer if ex.knows_user(scorer, user) else None
    slots = ex.shows_slots(model)
    if slots:
        model_section(path, user, stamp, model)
        st.header("Observed interests (decayed evidence)")
    view = _graph(path, user, no, at, stamp, checkpoint_version(Path(path)) if model else 0.0, _model=model)
    if slots:
        st.caption("The user's events grouped by catalogue interest, decayed with time, with the model's predicted "
                   "share of each beside them; the recommendations are the model's, above.")
        st.iframe(view.html, height=GRAPH_PX)
    elif model is not None:
        st.caption("Recommendations and predicted affinities come from the trained model in its current state.")
    elif not latest:
        st.caption("A past time: the model scores only in its current state, so the graph and recommendations "
                   "here come from the evidence scorer (the decayed evidence of the events up to this time).")
    else:
        st.caption("Recommendations from the evidence scorer"
                   + (" (the trained model does not know this user)." if scorer is not None else
                      " (no trained model yet)."))

    if not slots:
        st.subheader("Interest graph")
        st.iframe(view.html, height=GRAPH_PX)
        explain(view)

    st.subheader("Interests over time")
    st.plotly_chart(ex.timeline_figure(tl, at), width="stretch")
    st.caption("Shares of each interest per snapshot; dashed lines: change points; solid line: the selected time; "
               "below, the Jensen-Shannon divergence from the previous snapshot.")

    st.subheader("Events up to this time")
    st.dataframe(_events(path, user, no, at, stamp), width="stretch", hide_index=True)

    st.subheader("How the top-K changed")
    scorers = sorted(tl.ranks["scorer"].unique())
    chosen = st.radio("Scorer", scorers, horizontal=True) if len(scorers) > 1 else "evidence"
    st.plotly_chart(ex.rank_figure(tl, chosen, no), width="stretch")
    st.dataframe(ex.entries_exits(tl.ranks), width="stretch", hide_index=True)


main()
