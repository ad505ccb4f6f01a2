"""The Live page's work: add events for real and watch one user's interests and recommendations move, or ask
"what if this user now did X" without writing anything. No Streamlit here.

Adding goes the way every import goes (:mod:`igcore.after_import`: the CSV importer with its quarantine and
import log, the model's online state and serving state, the touched users' interest snapshots); the page's live
model then takes over the refreshed model, and the user's graph is drawn as of their latest event. A what-if
computes the same graph from the stored events plus the hypothetical one (``hypothetical_graph``); the model side
scores a copy of the live model's online state that took the event in, so the cached model stays as it is.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import time
from pathlib import Path

import pandas as pd

from igcore.after_import import import_and_refresh
from igcore.dashboard.models import LiveModel
from igcore.dashboard.text import figure_text
from igcore.events import from_arrays, user_event_count
from igcore.ingest import ImportReport
from igcore.interests.export import graph_html
from igcore.interests.graph import InterestGraph, hypothetical_graph
from igcore.interests.model_graph import has_interests, model_graph, shown_graph
from igcore.interests.scoring import ModelScorer
from igcore.interests.snapshots import stored_config
from igcore.pipeline.model import IgcoreRecommender
from igcore.pipeline.run import reindexed
from igcore.store import Store

EVENT_TYPES = ("view", "cart", "wishlist", "purchase")
NEXT_EVENT = dt.timedelta(minutes=1)  # a new event's default time: this long after the store's latest one
MIN_MOVE = 0.005  # share changes below half a percentage point are not called out


@dataclasses.dataclass(frozen=True)
class UserState:
    user_id: str
    events: int
    last_ts: dt.datetime  # naive UTC
    store_last_ts: dt.datetime  # the store's latest event, anyone's

    @property
    def next_time(self) -> dt.datetime:
        """A new event's default time: just after the store's latest event, as if it happened now in the store's
        clock. The model then takes it in at the end of its stream (an event dated before stored ones makes the
        next refresh replay the log: :func:`igcore.pipeline.run.refresh`)."""
        return max(self.last_ts, self.store_last_ts) + NEXT_EVENT


@dataclasses.dataclass(frozen=True)
class View:
    """One user's state as the page draws it: the graph, its interests and recommendations as tables, and the
    graph as a self-contained HTML page (pyvis, escaped)."""

    graph: InterestGraph
    interests: pd.DataFrame  # kind, interest, label, share, events, predicted
    recommendations: pd.DataFrame  # rank, item_id, title, score, interest
    html: str


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What changed between two views of the same user."""

    interests: pd.DataFrame  # kind, interest, label, share before, share after, change (pp), what changed
    recommendations: pd.DataFrame  # the after list with the before rank and the move
    left: pd.DataFrame  # entries of the before list that are no longer in the top-K
    chart: pd.DataFrame  # label (HTML-escaped for plotly), state (before | after), share

    @property
    def new_interests(self) -> list[str]:
        return self.interests.loc[self.interests["what changed"] == "new", "interest"].tolist()

    @property
    def new_entries(self) -> int:
        return int((self.recommendations["move"] == "new").sum())


@dataclasses.dataclass(frozen=True)
class AddResult:
    report: ImportReport
    snapshots: str  # what the snapshot update did, one line
    touched: list[str]  # users whose events were added
    model: str  # what the live model did with the events, one line
    before: View | None
    after: View | None
    comparison: Comparison | None
    seconds: float  # from the start of the import to the drawn-ready graph


@dataclasses.dataclass(frozen=True)
class WhatIf:
    before: View
    after: View
    comparison: Comparison
    scorer: str  # how the recommendations were computed, one sentence for a caption
    seconds: float


# --- reads ----------------------------------------------------------------------------------------------------
def has_snapshots(path: Path) -> bool:
    """Whether interest snapshots were built for this store (the graphs use their nodes and settings)."""
    with Store(path, read_only=True) as store:
        return stored_config(store) is not None


def active_users(path: Path, limit: int = 200) -> list[str]:
    """The most recently active users, latest first: the page's user picker."""
    with Store(path, read_only=True) as store:
        return [r[0] for r in store.rows("SELECT user_id FROM events GROUP BY user_id "
                                         "ORDER BY max(ts) DESC, user_id LIMIT ?", [int(limit)])]


def user_state(path: Path, user_id: str) -> UserState | None:
    """How many events the user has and when the last was; None for a user without events."""
    with Store(path, read_only=True) as store:
        n, last, latest = store.rows("SELECT count(*), max(ts), (SELECT max(ts) FROM events) FROM events "
                                     "WHERE user_id = ?", [user_id])[0]
    return UserState(user_id, int(n), last, latest) if n else None


def item_choices(path: Path) -> pd.DataFrame:
    """Catalogue items (item_id, title, category), by title: the page's item pickers. Items seen only in
    events, without a catalogue row, come last."""
    with Store(path, read_only=True) as store:
        return store.df("""
            SELECT item_id, title, category FROM items
            UNION ALL
            SELECT DISTINCT item_id, NULL, NULL FROM events WHERE item_id NOT IN (SELECT item_id FROM items)
            ORDER BY title NULLS LAST, item_id""")


def current_view(path: Path, user_id: str, model: ModelScorer | None) -> View:
    """The user's graph as of their latest stored event."""
    with Store(path, read_only=True) as store:
        return view_of(shown_graph(store, user_id, model))


def view_of(graph: InterestGraph) -> View:
    """The tables and the HTML page of a graph (the page shows the same graph three ways)."""
    interests = pd.DataFrame([{k: n[k] for k in ("kind", "interest", "label", "share", "events", "predicted")}
                              for n in graph.nodes], columns=["kind", "interest", "label", "share", "events",
                                                             "predicted"])
    recs = pd.DataFrame([{"rank": r["rank"], "item_id": r["item_id"], "title": r["title"], "score": r["score"],
                          "interest": r["label"]} for r in graph.recommendations],
                        columns=["rank", "item_id", "title", "score", "interest"])
    return View(graph, interests, recs, graph_html(graph, tables=False))


# --- comparison -----------------------------------------------------------------------------------------------
def _what_changed(before: float, after: float) -> str:
    if before <= 0 < after:
        return "new"
    if after <= 0 < before:
        return "gone"
    if after - before >= MIN_MOVE:
        return "rising"
    if before - after >= MIN_MOVE:
        return "fading"
    return ""


def _move(before: float, after: int) -> str:
    if pd.isna(before):
        return "new"
    step = int(before) - after
    return f"up {step}" if step > 0 else f"down {-step}" if step < 0 else "same"


def compare(before: View, after: View) -> Comparison:
    """Interest shares before and after (with the change in percentage points and a word for it), the after
    top-K with each entry's earlier rank and move, and the entries that left the top-K."""
    keys = ["kind", "interest", "label"]
    both = before.interests[[*keys, "share"]].merge(after.interests[[*keys, "share"]], on=keys, how="outer",
                                                    suffixes=(" before", " after"))
    both[["share before", "share after"]] = both[["share before", "share after"]].fillna(0.0)
    both["change (pp)"] = 100 * (both["share after"] - both["share before"])
    both["what changed"] = [_what_changed(b, a) for b, a in zip(both["share before"], both["share after"])]
    both = both.sort_values(["share after", "share before", "interest"], ascending=[False, False, True],
                            ignore_index=True)
    old = before.recommendations.set_index("item_id")["rank"]
    recs = after.recommendations.copy()
    recs["rank before"] = recs["item_id"].map(old).astype("Int64")
    recs["move"] = [_move(b, a) for b, a in zip(recs["rank before"], recs["rank"])]
    left = before.recommendations[~before.recommendations["item_id"].isin(recs["item_id"])]
    left = left.rename(columns={"rank": "rank before"})[["rank before", "item_id", "title", "interest"]]
    return Comparison(both, recs, left.reset_index(drop=True), _chart(both))


def chart_labels(labels: pd.Series, ids: pd.Series) -> pd.Series:
    """Labels for a plotly axis: HTML-escaped (plotly renders some HTML), with the id added where two
    interests share a label (an axis would merge them)."""
    shown = labels.fillna(ids).astype(str)
    shown = shown.where(~shown.duplicated(keep=False), shown + " (" + ids.astype(str) + ")")
    return shown.map(figure_text)


def _chart(both: pd.DataFrame, top: int = 12) -> pd.DataFrame:
    primary = both[both["kind"] == both["kind"].iloc[0]] if len(both) else both
    shown = primary.assign(big=primary[["share before", "share after"]].max(axis=1)).nlargest(top, "big")
    shown = shown.assign(label=chart_labels(shown["label"], shown["interest"]))
    long = shown.melt(id_vars=["label"], value_vars=["share before", "share after"], var_name="state",
                      value_name="share")
    return long.assign(state=long["state"].str.removeprefix("share "))


# --- adding events --------------------------------------------------------------------------------------------
def event_csv(rows: list[tuple[str, str, str, str]]) -> bytes:
    """(user_id, item_id, event_type, time text) rows as an events CSV, quoted properly whatever the ids hold."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["user_id", "item_id", "event_type", "timestamp"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def add_events(path: Path, user_id: str, data: bytes, name: str, live: LiveModel | None,
               before: View | None = None) -> AddResult:
    """Import ``data`` (an events CSV) for real through the after-import service, let the page's live model
    take over the refreshed model, and compute ``user_id``'s graph afterwards. Timed from the import to the
    drawn-ready graph."""
    t0 = time.perf_counter()
    with Store(path) as store:
        after = import_and_refresh(store, io.BytesIO(data), name=name)
        if live is not None:
            live.adopt(after)
        scorer = live.scorer if live is not None else None
        known = user_event_count(store, user_id)
        graph = shown_graph(store, user_id, scorer) if known else None
    view = view_of(graph) if graph is not None else None
    comparison = compare(before, view) if before is not None and view is not None else None
    return AddResult(after.report, after.snapshots, after.touched_users, after.model, before, view, comparison,
                     time.perf_counter() - t0)


# --- what if --------------------------------------------------------------------------------------------------
def what_if(path: Path, user_id: str, item_id: str, event_type: str, at: dt.datetime, live: LiveModel | None,
            before: View | None = None) -> WhatIf:
    """The user's graph and recommendations as if they now did ``event_type`` on ``item_id`` at ``at``,
    beside the current ones; nothing is written and the live model is not changed. The model scores a copy of
    its online state that took the event in; when it cannot (no model, or the user or item is unknown to it),
    both sides use the evidence scorer, which reflects the event exactly."""
    t0 = time.perf_counter()
    twin = forked_scorer(live, user_id, item_id, event_type, at) if live is not None else None
    if twin is not None:
        note = ("Recommendations from a copy of the trained model's online state that took the event in "
                "(the model in use is unchanged).")
    elif live is None:
        note = "No trained model yet: both sides use the evidence scorer, which reflects the event exactly."
    else:
        note = ("The trained model does not know this user or item (retrain to include them): both sides use "
                "the evidence scorer, which reflects the event exactly.")
    with Store(path, read_only=True) as store:
        if before is None or (twin is None and live is not None):  # the given one was scored by the model
            before = view_of(shown_graph(store, user_id, live.scorer if twin is not None else None))
        after = view_of(model_graph(store, twin, user_id) if has_interests(twin) else
                        hypothetical_graph(store, user_id, [(item_id, event_type, at)], model=twin))
    return WhatIf(before, after, compare(before, after), note, time.perf_counter() - t0)


def forked_scorer(live: LiveModel, user_id: str, item_id: str, event_type: str,
                  at: dt.datetime) -> ModelScorer | None:
    """A copy of the live model that also took in one event (``IgcoreRecommender.fork``: the live model is
    left as it was), or None when the model cannot take it (not the pipeline, or a user or item it was not
    trained on)."""
    model = live.scorer.model
    if not isinstance(model, IgcoreRecommender):
        return None
    ts = int((at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp())
    event = reindexed(from_arrays([user_id], [item_id], [ts], [event_type]), live.meta)
    if len(event) == 0:
        return None
    twin = model.fork(event.user)
    twin.update(event)
    return ModelScorer(twin, live.scorer.user_ids, live.scorer.item_ids, live.scorer.name)
