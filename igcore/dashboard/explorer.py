"""The user explorer's reads and figures: one user's snapshots, interest shares over time, change points, events,
recommendations with their explanations, and how the top-K moved. No Streamlit in here.

Every read is a handful of one-user queries (the interest tables are sorted by user), so a user's whole view
stays fast on a store of tens of thousands of users; nothing loads all users' events. Untrusted text (user and
item ids, titles, interest labels) goes into figures only ``html.escape``d, because plotly renders a subset of
HTML in names, hover text and labels; tables keep the raw text (Streamlit shows table cells as text).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from igcore import forget as forgetting
from igcore import privacy
from igcore.dashboard.text import figure_text
from igcore.events import user_event_count
from igcore.interests.changes import jsd_terms
from igcore.interests.config import InterestConfig
from igcore.interests.export import graph_html
from igcore.interests.graph import InterestGraph, interest_graph
from igcore.interests.model_graph import has_interests, model_graph, model_slots, slot_shares
from igcore.interests.schema import has_tables, read_state
from igcore.interests.scoring import ModelScorer
from igcore.interests.snapshots import build_snapshots, stored_config, timeline
from igcore.interests.text import reasons
from igcore.progress import Progress, no_progress
from igcore.store import Store

OTHER = "other"


@dataclasses.dataclass(frozen=True)
class ExplorerTimeline:
    """One user's stored history, shaped for the explorer's charts (oldest snapshot first)."""

    user_id: str
    kind: str  # the primary interest kind the shares are of
    snapshots: pd.DataFrame  # snapshot_no, snapshot_at, n_events, top_interest, jsd, label (for the slider)
    shares: pd.DataFrame  # snapshot_no, snapshot_at, interest, label, share: top interests + "other", wide->long
    changes: pd.DataFrame  # event_index, ts, interest, label, faded, faded_label, jsd
    ranks: pd.DataFrame  # snapshot_no, snapshot_at, scorer, rank, item_id, title, score, prev_rank


@dataclasses.dataclass(frozen=True)
class GraphView:
    """The interest graph at one time and the tables drawn from it."""

    graph: InterestGraph
    html: str  # the pyvis page (in-line resources, escaped)
    recommendations: pd.DataFrame  # rank, item_id, title, score, interest, supporting interests, supporting events
    explanations: dict[int, tuple[pd.DataFrame, pd.DataFrame, float]]  # rank -> (interests, events, other)


# --- text ------------------------------------------------------------------------------------------------------
_e = figure_text


def _list(values: pd.Series) -> list[Any]:
    """Plain values for a figure (readable JSON; NaN becomes null, times ISO strings)."""
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT else
            (v.isoformat() if isinstance(v, pd.Timestamp) else v) for v in values.tolist()]


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# --- store state and users -------------------------------------------------------------------------------------
def snapshots_built(path: Path) -> bool:
    """Whether the store has interest snapshots (the explorer reads them; without them it offers to build)."""
    with Store(path, read_only=True) as store:
        return stored_config(store) is not None


def build(path: Path, progress: Progress = no_progress) -> str:
    """Build every user's interest snapshots with the default settings; returns the one-line summary."""
    with Store(path) as store:
        return build_snapshots(store, InterestConfig(), progress=progress).summary()


def active_users(path: Path, limit: int = 50) -> pd.DataFrame:
    """The most active users (user_id, pseudonym, events), most events first, ties by id."""
    with Store(path, read_only=True) as store:
        found = store.df("SELECT user_id, count(*) AS events FROM events GROUP BY user_id "
                         "ORDER BY events DESC, user_id LIMIT ?", [limit])
        return _with_pseudonyms(store, found)


def find_users(path: Path, text: str, limit: int = 50) -> pd.DataFrame:
    """Users (user_id, pseudonym, events) whose id equals ``text`` or contains it (case-insensitive), or, for
    text shaped like a pseudonym (``p-`` and hex digits), whose pseudonym starts with it, or, in a pseudonymising
    store with its key file, whose id is the pseudonym of ``text`` as a raw id: exact id match first, then the
    most active; at most ``limit``. The text is matched literally (no wildcards)."""
    with Store(path, read_only=True) as store:
        by_pseudonym = privacy.ids_for_search(store, text)
        found = store.df("SELECT user_id, count(*) AS events FROM events "
                         "WHERE contains(lower(user_id), lower(?)) OR list_contains(?, user_id) GROUP BY user_id "
                         "ORDER BY user_id = ? DESC, events DESC, user_id LIMIT ?",
                         [text, by_pseudonym, text, limit])
        return _with_pseudonyms(store, found)


def most_changed(path: Path, users: list[str]) -> str | None:
    """Of ``users``, the one whose interests changed most often (stored change points; ties: the earlier in
    ``users``), or None when none changed: the explorer opens on a user with a story to show."""
    if not users:
        return None
    with Store(path, read_only=True) as store:
        counts = dict(store.rows("SELECT user_id, count(*) FROM interest_changes WHERE list_contains(?, user_id) "
                                 "GROUP BY user_id", [users])) if has_tables(store) else {}
    best = max(range(len(users)), key=lambda i: (counts.get(users[i], 0), -i))
    return users[best] if counts.get(users[best], 0) > 0 else None


def _with_pseudonyms(store: Store, users: pd.DataFrame) -> pd.DataFrame:
    return users.assign(pseudonym=privacy.display_pseudonyms(store, users["user_id"].tolist()))[
        ["user_id", "pseudonym", "events"]]


def user_events(path: Path, user_id: str) -> int:
    """How many events the store holds for the user (0: unknown user)."""
    with Store(path, read_only=True) as store:
        return user_event_count(store, user_id)


def forget_plan(path: Path, user_id: str) -> str:
    """What forgetting the user would remove, in one line for the confirmation (no id in it)."""
    with Store(path, read_only=True) as store:
        return forgetting.plan_forget(store, user_id).summary()


def forget_user(path: Path, user_id: str, role: str, progress: Progress = no_progress) -> list[str]:
    """Forget the user (:func:`igcore.forget.forget`: store rows in one transaction, compaction, checkpoint
    records and serving state; the weights until the next training); what was done, a line a step."""
    return forgetting.forget(path, user_id, role, progress=progress).lines()


def knows_user(scorer: ModelScorer | None, user_id: str) -> bool:
    """Whether the model was trained with this user (it cannot score others)."""
    return scorer is not None and user_id in set(scorer.user_ids)


# --- timeline ----------------------------------------------------------------------------------------------------
def snapshot_label(no: int, at: Any, n_events: int) -> str:
    return f"snapshot {no}: {pd.Timestamp(at):%Y-%m-%d %H:%M}, {n_events} events"


def load_timeline(path: Path, user_id: str, top: int = 8) -> ExplorerTimeline:
    """The user's stored timeline (five one-user queries and one for titles) shaped for the charts: shares of
    the primary interest kind with the ``top`` interests by mean share and the rest summed as "other"."""
    with Store(path, read_only=True) as store:
        tl = timeline(store, user_id)
        kinds = json.loads(read_state(store).get("kinds", "[]"))
        labels = dict(store.rows("SELECT interest, label FROM interest_nodes"))
        titles = item_titles(store, tl.recommendations["item_id"])
    snaps = tl.snapshots.copy()
    snaps["label"] = [snapshot_label(n, a, k) for n, a, k in snaps[["snapshot_no", "snapshot_at", "n_events"]]
                      .itertuples(index=False)]
    kind = kinds[0] if kinds else (tl.weights["kind"].iloc[0] if len(tl.weights) else "")
    at = snaps.set_index("snapshot_no")["snapshot_at"]
    changes = tl.changes.assign(label=tl.changes["interest"].map(labels),
                                faded_label=tl.changes["faded"].map(labels))
    ranks = tl.recommendations.assign(snapshot_at=tl.recommendations["snapshot_no"].map(at),
                                      title=tl.recommendations["item_id"].map(titles))
    ranks = ranks[["snapshot_no", "snapshot_at", "scorer", "rank", "item_id", "title", "score", "prev_rank"]]
    return ExplorerTimeline(user_id, kind, snaps, interest_shares(tl.weights, snaps, kind, top), changes, ranks)


def interest_shares(weights: pd.DataFrame, snapshots: pd.DataFrame, kind: str, top: int = 8) -> pd.DataFrame:
    """Long table (snapshot_no, snapshot_at, interest, label, share) of the ``top`` interests of ``kind`` by mean
    share over the snapshots (0 where absent), plus "other" (the rest's share) when any other interest exists."""
    own = weights[weights["kind"] == kind]
    wide = own.pivot_table(index="snapshot_no", columns="interest", values="share", aggfunc="sum")
    wide = wide.reindex(snapshots["snapshot_no"]).fillna(0.0)
    mean = wide.mean().sort_index().sort_values(ascending=False, kind="stable")
    keep = list(mean.index[:top])
    shown = wide[keep].copy()
    if len(mean) > top:
        shown[OTHER] = wide.drop(columns=keep).sum(axis=1)
    labels = own.drop_duplicates("interest").set_index("interest")["label"].to_dict()
    names = [labels.get(i, i) for i in keep]
    dup = {n for n in names if names.count(n) > 1}
    label_of = {i: (f"{labels.get(i, i)} ({i})" if labels.get(i, i) in dup else labels.get(i, i)) for i in keep}
    label_of[OTHER] = OTHER
    long = shown.reset_index().melt(id_vars="snapshot_no", var_name="interest", value_name="share")
    long["label"] = long["interest"].map(label_of)
    long["snapshot_at"] = long["snapshot_no"].map(snapshots.set_index("snapshot_no")["snapshot_at"])
    return long[["snapshot_no", "snapshot_at", "interest", "label", "share"]]


def entries_exits(ranks: pd.DataFrame) -> pd.DataFrame:
    """Per scorer, items that entered a stored top-K (no previous rank) or left it since that scorer's previous
    stored list, newest first: snapshot_no, snapshot_at, scorer, change, rank, prev_rank, item_id, title."""
    columns = ["snapshot_no", "snapshot_at", "scorer", "change", "rank", "prev_rank", "item_id", "title"]
    lists = ranks[["scorer", "snapshot_no", "snapshot_at"]].drop_duplicates(["scorer", "snapshot_no"])
    lists = lists.sort_values(["scorer", "snapshot_no"])
    lists["prev_no"] = lists.groupby("scorer")["snapshot_no"].shift()
    follow = lists.dropna(subset=["prev_no"]).astype({"prev_no": ranks["snapshot_no"].dtype})
    entered = ranks.merge(follow[["scorer", "snapshot_no"]], on=["scorer", "snapshot_no"])
    entered = entered[entered["prev_rank"].isna()].assign(change="entered")
    before = ranks[["scorer", "snapshot_no", "item_id", "title", "rank"]].rename(
        columns={"snapshot_no": "prev_no", "rank": "prev_rank"})
    left = follow.merge(before, on=["scorer", "prev_no"]).merge(
        ranks[["scorer", "snapshot_no", "item_id"]].assign(kept=True), on=["scorer", "snapshot_no", "item_id"],
        how="left")
    left = left[left["kept"].isna()].assign(change="left", rank=None)
    out = pd.concat([entered[columns], left[columns]], ignore_index=True) if len(entered) or len(left) else \
        pd.DataFrame(columns=columns)
    out[["rank", "prev_rank"]] = out[["rank", "prev_rank"]].astype("Int64")
    return out.sort_values(["snapshot_no", "scorer", "change", "rank", "prev_rank"],
                           ascending=[False, True, True, True, True], ignore_index=True)


# --- figures -------------------------------------------------------------------------------------------------------
def timeline_figure(tl: ExplorerTimeline, selected_at: Any = None) -> go.Figure:
    """Stacked area of the interest shares per snapshot, change points as dashed lines with a marker each, the
    JSD from the previous snapshot below, and a solid line at the selected time. Text is escaped."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.06)
    for _, part in tl.shares.groupby("interest", sort=False):
        label = _e(part["label"].iloc[0])
        fig.add_trace(go.Scatter(x=_list(part["snapshot_at"]), y=_list(part["share"]), name=label, mode="lines",
                                 stackgroup="shares", customdata=_list(part["snapshot_no"]),
                                 hovertemplate=f"{label}<br>snapshot %{{customdata}}: %{{y:.1%}}<extra></extra>"),
                      row=1, col=1)
    snaps = tl.snapshots
    fig.add_trace(go.Scatter(x=_list(snaps["snapshot_at"]), y=_list(snaps["jsd"]), name="JSD", mode="lines+markers",
                             line={"color": "#555"}, customdata=_list(snaps["snapshot_no"]), showlegend=False,
                             hovertemplate="snapshot %{customdata}: JSD %{y:.3f}<extra></extra>"), row=2, col=1)
    if len(tl.changes):
        text = [_e(f"change at event {c.event_index}: {c.label} emerges"
                   + (f", {c.faded_label} fades" if isinstance(c.faded_label, str) else "") + f" (JSD {c.jsd:.2f})")
                for c in tl.changes.itertuples()]
        fig.add_trace(go.Scatter(x=_list(tl.changes["ts"]), y=[1.0] * len(tl.changes), name="change point",
                                 mode="markers", marker={"symbol": "triangle-down", "size": 12, "color": "black"},
                                 hovertext=text, hoverinfo="text"), row=1, col=1)
        for ts in tl.changes["ts"]:
            fig.add_vline(x=pd.Timestamp(ts).isoformat(), line={"dash": "dash", "color": "black", "width": 1})
    if selected_at is not None:
        fig.add_vline(x=pd.Timestamp(selected_at).isoformat(), line={"color": "#e76f51", "width": 2}, name="selected")
    fig.update_yaxes(title_text="share", tickformat=".0%", range=[0, 1.05], row=1, col=1)
    fig.update_yaxes(title_text="JSD", row=2, col=1)
    fig.update_layout(title=f"Interests of {_e(tl.user_id)} ({_e(tl.kind)}) over time", height=520,
                      hovermode="closest", margin={"t": 50, "b": 30})
    return fig


def current_top(ranks: pd.DataFrame, scorer: str = "evidence", at_no: int | None = None,
                top: int = 5) -> list[str]:
    """The items ``scorer`` ranks within ``top`` in its latest stored list at or before snapshot ``at_no``
    (None: its latest), best first: the lines of the bump chart."""
    own = ranks[ranks["scorer"] == scorer]
    if at_no is not None:
        own = own[own["snapshot_no"] <= at_no]
    if own.empty:
        return []
    last = own[(own["snapshot_no"] == own["snapshot_no"].max()) & (own["rank"] <= top)]
    return last.sort_values("rank")["item_id"].tolist()


def rank_figure(tl: ExplorerTimeline, scorer: str = "evidence", at_no: int | None = None, top: int = 5,
                window: int = 12) -> go.Figure:
    """A bump chart: the rank of each item of :func:`current_top` over the scorer's last ``window`` stored
    lists up to ``at_no`` (a gap where the item was out of the list). Text is escaped."""
    own = tl.ranks[tl.ranks["scorer"] == scorer]
    nos = sorted(n for n in own["snapshot_no"].unique() if at_no is None or n <= at_no)[-window:]
    at = tl.snapshots.set_index("snapshot_no")["snapshot_at"].reindex(nos)
    deepest = int(own["rank"].max()) if len(own) else top
    fig = go.Figure()
    for item in current_top(tl.ranks, scorer, at_no, top):
        rows = own[own["item_id"] == item].set_index("snapshot_no")["rank"].reindex(nos)
        title = own.loc[own["item_id"] == item, "title"].iloc[0]
        name = _e(_short(title if isinstance(title, str) and title else item))
        fig.add_trace(go.Scatter(x=_list(at), y=_list(rows), name=name, mode="lines+markers",
                                 line={"width": 3}, marker={"size": 9}, connectgaps=False,
                                 hovertemplate=f"{name}<br>rank %{{y}}<extra></extra>"))
    fig.update_yaxes(autorange=False, range=[deepest + 0.5, 0.5], title_text="rank", dtick=1)
    fig.update_layout(title=f"How the current top {top} got there ({_e(scorer)} scorer)", height=380,
                      margin={"t": 50, "b": 30}, legend={"orientation": "h", "y": -0.15})
    return fig


# --- one time --------------------------------------------------------------------------------------------------------
def events_until(path: Path, user_id: str, at: Any) -> pd.DataFrame:
    """The user's events up to ``at`` (inclusive), newest first: time, item_id, title, event_type. The time is
    applied after the read (see :func:`igcore.interests.events.load_user_log`: the user alone is looked up)."""
    with Store(path, read_only=True) as store:
        found = store.df("SELECT ts AS time, item_id, event_type FROM events WHERE user_id = ? "
                         "ORDER BY ts DESC, event_id DESC", [user_id])
        found.insert(2, "title", found["item_id"].map(item_titles(store, found["item_id"])))
    until = pd.Timestamp(at)
    until = until.tz_convert("UTC").tz_localize(None) if until.tzinfo is not None else until  # stored times: UTC
    return found[found["time"] <= until].reset_index(drop=True)


def item_titles(store: Store, item_ids: Iterable[str]) -> dict[str, str | None]:
    """Catalogue titles of ``item_ids`` (those the catalogue has), from :func:`catalogue_titles`."""
    titles = catalogue_titles(store)
    return {item: titles[item] for item in sorted(set(item_ids)) if item in titles}


@dataclasses.dataclass(frozen=True)
class _Titles:
    version: tuple  # (the store's latest import, its number of items) when they were read
    by_item: dict[str, str | None]


_CATALOGUE_TITLES: dict[Path, _Titles] = {}


def catalogue_titles(store: Store) -> dict[str, str | None]:
    """Every item's title, read once per store and catalogue version and kept by this process (any import may add
    or change items, so each one starts a new version). A user's reads then find their titles in memory: DuckDB
    looks a list of ids up by joining it with the whole catalogue, not through the items' index, so a query per
    read would cost time in proportion to the catalogue."""
    version = tuple(store.rows("SELECT (SELECT max(import_id) FROM imports), (SELECT count(*) FROM items)")[0])
    key = store.path.resolve()
    kept = _CATALOGUE_TITLES.get(key)
    if kept is None or kept.version != version:
        kept = _CATALOGUE_TITLES[key] = _Titles(version, dict(store.rows("SELECT item_id, title FROM items")))
    return kept.by_item


def graph_view(path: Path, user_id: str, at: Any, model: ModelScorer | None = None, parts: int = 3) -> GraphView:
    """The interest graph at ``at`` (``model`` None: the evidence scorer), its HTML and its recommendations
    with explanations: each recommendation's supporting interests and events with their shares of its score."""
    when = pd.Timestamp(at).to_pydatetime().replace(tzinfo=dt.UTC)
    with Store(path, read_only=True) as store:
        return _view(store, interest_graph(store, user_id, when, model=model), parts)


def shows_slots(model: ModelScorer | None) -> bool:
    """Whether the explorer draws the model's own interest slots (a model trained with interests > 0)."""
    return has_interests(model)


def model_view(path: Path, user_id: str, model: ModelScorer, parts: int = 3) -> tuple[GraphView, ExplorerTimeline]:
    """The user's interest graph from the trained model's interest slots in its current state
    (:mod:`igcore.interests.model_graph`), its recommendations explained as :func:`graph_view`'s, and the
    slots' weights after each of the user's events as a timeline (one point an event)."""
    with Store(path, read_only=True) as store:
        slots = model_slots(store, model, user_id)
        view = _view(store, model_graph(store, model, user_id, slots=slots), parts)
    shares = slot_shares(slots)
    wide = shares.pivot(index="event_index", columns="interest", values="share").to_numpy()
    at = pd.to_datetime(slots.track.times, unit="s")
    snaps = pd.DataFrame({"snapshot_no": np.arange(len(at)), "snapshot_at": at, "n_events": np.arange(1, len(at) + 1),
                          "top_interest": [f"slot:{k}" for k in wide.argmax(1)],
                          "jsd": np.r_[np.nan, jsd_terms(wide[:-1], wide[1:]).sum(1)]})
    snaps["label"] = [f"event {n}" for n in snaps["n_events"]]
    changes = pd.DataFrame(view.graph.changes, columns=["event_index", "ts", "interest", "label", "faded",
                                                        "faded_label", "jsd"])
    changes = changes.assign(ts=pd.to_datetime(changes["ts"]).dt.tz_localize(None))
    shares = shares.assign(snapshot_no=shares["event_index"], snapshot_at=pd.to_datetime(shares["ts"], unit="s"))
    ranks = pd.DataFrame(columns=["snapshot_no", "snapshot_at", "scorer", "rank", "item_id", "title", "score",
                                  "prev_rank"])
    return view, ExplorerTimeline(user_id, "model slots", snaps, shares[["snapshot_no", "snapshot_at", "interest",
                                                                          "label", "share"]], changes, ranks)


def _view(store: Store, graph: InterestGraph, parts: int) -> GraphView:
    """A graph with its HTML and its recommendations as tables: each one's supporting interests and events."""
    seen = sorted({e["item_id"] for r in graph.recommendations for e in r["explanation"]["events"]})
    titles = dict(store.rows("SELECT item_id, title FROM items WHERE item_id IN (SELECT unnest(?::VARCHAR[]))",
                             [seen])) if seen else {}
    rows, explanations = [], {}
    for r in graph.recommendations:
        why = r["explanation"]
        interests = pd.DataFrame([{"interest": p["label"], "id": p["interest"], "contribution": p["contribution"],
                                   "share": p["share"]} for p in why["interests"]],
                                 columns=["interest", "id", "contribution", "share"])
        events = pd.DataFrame([{"time": e["ts"], "item_id": e["item_id"], "title": titles.get(e["item_id"]),
                                "event_type": e["event_type"], "contribution": e["contribution"],
                                "share": e["share"]} for e in why["events"]],
                              columns=["time", "item_id", "title", "event_type", "contribution", "share"])
        explanations[r["rank"]] = (interests, events, why["other_events"])
        rows.append({"rank": r["rank"], "item_id": r["item_id"], "title": r["title"], "score": r["score"],
                     "interest": r["label"],
                     "supporting interests": reasons(why["interests"], parts),
                     "supporting events": reasons([{"label": f"{titles.get(e['item_id']) or e['item_id']} "
                                                             f"({e['event_type']})", "share": e["share"]}
                                                   for e in why["events"]], parts)})
    columns = ["rank", "item_id", "title", "score", "interest", "supporting interests", "supporting events"]
    return GraphView(graph, graph_html(graph, tables=False), pd.DataFrame(rows, columns=columns), explanations)

