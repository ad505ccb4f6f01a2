"""One user's interest graph at a time ``t``, computed from the events up to ``t``.

The same formulas as the stored snapshots (a snapshot taken at ``t``): user -> interest edges with the observed,
decayed evidence beside the model's predicted affinity (None without a model), interest -> interest edges
(transitions and co-occurrences), the user's own top items per interest, the top-K with explanations, and
the change points so far. Uses the stored nodes and config when snapshots were built, else the given config.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from igcore.errors import IgcoreError
from igcore.interests.changes import detect_changes
from igcore.interests.compute import compute_rows
from igcore.interests.config import InterestConfig
from igcore.interests.events import UserLog, from_columns, load_user_log
from igcore.interests.explain import EXACT, SIMILARITY, evidence_weights, explain_item, iso_utc
from igcore.interests.nodes import InterestNodes, build_nodes, load_nodes
from igcore.interests.scoring import ModelScorer
from igcore.interests.snapshots import stored_config
from igcore.interests.vectors import ItemVectors
from igcore.interests.weights import points_at
from igcore.store import Store


@dataclasses.dataclass(frozen=True)
class InterestGraph:
    user_id: str
    at: str  # ISO-8601 UTC
    n_events: int
    kinds: list[str]
    scorer: str  # evidence | model
    nodes: list[dict[str, Any]]  # interest, kind, label, weight, share, events, predicted, top_items
    edges: list[dict[str, Any]]  # src, dst, kind (transition | cooccurrence), weight
    recommendations: list[dict[str, Any]]  # rank, item_id, title, score, interest, label, explanation
    changes: list[dict[str, Any]]  # event_index, ts, interest, label, faded, jsd

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def to_seconds(at: dt.datetime) -> float:
    """A naive time is UTC."""
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()


def interest_graph(store: Store, user_id: str, at: dt.datetime | None = None, model: ModelScorer | None = None,
                   config: InterestConfig | None = None, top_events: int = 5) -> InterestGraph:
    config = config_in_force(store, config)
    until = to_seconds(at) if at is not None else None
    log = load_user_log(store, config, [user_id], until)
    if len(log) == 0:
        when = f" up to {iso_utc(until)}" if until is not None else ""
        raise IgcoreError(f"user {user_id!r} has no events{when}")
    config, nodes, vectors = definitions(store, model, config, log.item_ids)
    return _graph(store, user_id, log, until if until is not None else float(log.ts.max()), nodes, vectors, config,
                  model, top_events)


def hypothetical_graph(store: Store, user_id: str, extra: Sequence[tuple[str, str, dt.datetime]],
                       model: ModelScorer | None = None, config: InterestConfig | None = None,
                       top_events: int = 5) -> InterestGraph:
    """The user's graph as if the ``extra`` events (item_id, event_type, time) had been stored after theirs,
    taken at the latest event; nothing is written. For "what if this user now buys X" questions: ``model``
    should already know the extra events (e.g. a copy of the live model updated with them) or be None (the
    evidence scorer then reflects them exactly)."""
    config = config_in_force(store, config)
    log = load_user_log(store, config, [user_id])
    items, types, times = ([x[i] for x in extra] for i in range(3))
    config, nodes, vectors = definitions(store, model, config, [*log.item_ids, *items])
    ts = np.array([to_seconds(t) for t in times], dtype=np.float64)
    first_id = int(log.event_id.max()) + 1 if len(log) else 1
    log = from_columns(np.concatenate([log.user_ids[log.user], np.full(len(ts), user_id, dtype=object)]),
                       np.concatenate([log.item_ids, np.asarray(items, dtype=object)]),
                       np.concatenate([log.event_types, np.asarray(types, dtype=object)]),
                       np.concatenate([log.ts, ts]),
                       np.concatenate([log.event_id, first_id + np.arange(len(ts), dtype=np.int64)]), config)
    if len(log) == 0:
        raise IgcoreError(f"user {user_id!r} has no events")
    return _graph(store, user_id, log, float(log.ts.max()), nodes, vectors, config, model, top_events)


def config_in_force(store: Store, config: InterestConfig | None) -> InterestConfig:
    """The given config, else the one the stored snapshots were built with, else the defaults."""
    return config or stored_config(store) or InterestConfig()


def definitions(store: Store, model: ModelScorer | None, config: InterestConfig | None,
                items: Sequence[str] | None = None) -> tuple[InterestConfig, InterestNodes, ItemVectors]:
    """The config, nodes and vectors in force: the stored ones when snapshots were built (with ``items``, those
    a graph of a user of these items needs: see :func:`~igcore.interests.nodes.load_nodes`)."""
    stored = load_nodes(store, items if model is None else None)  # a model's predictions span every item
    config = config_in_force(store, config)
    nodes, vectors = stored or build_nodes(store, config, model.vectors() if model is not None else None)
    return config, nodes, vectors


def _graph(store: Store, user_id: str, log: UserLog, t: float, nodes: InterestNodes, vectors: ItemVectors,
           config: InterestConfig, model: ModelScorer | None, top_events: int) -> InterestGraph:
    """The graph of the one user in ``log`` at time ``t``."""
    points = points_at(log, t)
    rows = compute_rows(log, points, nodes, vectors, config, model, np.array([0]) if model is not None else None)
    titles = titles_of(store, set(rows.items["item_id"]) | set(rows.recs["item_id"]))
    primary = nodes.codes(log.item_ids)
    scorer = model.name if model is not None and (rows.recs["scorer"] == model.name).any() else "evidence"
    explain_vectors = (model.vectors() if scorer != "evidence" else None) or vectors
    events = evidence_weights(pd.DataFrame({"item_id": log.item_ids, "event_type": log.event_types, "ts": log.ts,
                                            "weight": log.weight, "interest": primary}),
                              explain_vectors, t, config.half_life_s)
    method = EXACT if scorer == "evidence" else SIMILARITY
    recs = []
    for r in rows.recs[rows.recs["scorer"] == scorer].itertuples():
        code = int(nodes.codes(np.array([r.item_id], dtype=object))[0])
        recs.append({"rank": int(r.rank), "item_id": r.item_id, "title": titles.get(r.item_id),
                     "score": float(r.score), "interest": nodes.interest[code] if code >= 0 else None,
                     "label": nodes.label[code] if code >= 0 else None,
                     "explanation": explain_item(events, r.item_id, r.score, explain_vectors, nodes, method,
                                                 top_events)})
    changes = detect_changes(log, primary, config)
    return InterestGraph(
        user_id, iso_utc(t), len(log), list(nodes.kinds), scorer, _nodes(rows.weights, rows.items, nodes, titles,
                                                                      config.top_items),
        [{"src": nodes.interest[e.src], "dst": nodes.interest[e.dst], "kind": e.kind, "weight": float(e.weight)}
         for e in rows.edges.sort_values("weight", ascending=False).itertuples()],
        recs,
        [{"event_index": int(c.event_index), "ts": iso_utc(float(log.ts[c.row])),
          "interest": nodes.interest[c.interest], "label": nodes.label[c.interest],
          "faded": nodes.interest[c.faded] if c.faded >= 0 else None,
          "jsd": float(c.jsd)} for c in changes.itertuples()])


def _nodes(weights: pd.DataFrame, items: pd.DataFrame, nodes, titles: dict[str, str | None],
           top_items: int) -> list[dict[str, Any]]:
    order = {k: i for i, k in enumerate(nodes.kinds)}
    weights = weights.assign(o=weights["kind"].map(order)).sort_values(["o", "share", "interest"],
                                                                       ascending=[True, False, True])
    tops: dict[int, list[dict[str, Any]]] = {}
    for kind in nodes.kinds:
        own = items.assign(code=nodes.codes(items["item_id"].to_numpy(dtype=object), kind))
        own = own[own["code"] >= 0].sort_values(["code", "weight", "item_id"], ascending=[True, False, True])
        for code, group in own.groupby("code"):
            tops[int(code)] = [{"item_id": i, "title": titles.get(i), "weight": float(w), "events": int(n)}
                               for i, w, n in group[["item_id", "weight", "events"]].head(top_items).itertuples(
                                   index=False)]
    return [{"interest": nodes.interest[w.interest], "kind": w.kind, "label": nodes.label[w.interest],
             "weight": float(w.weight), "share": float(w.share), "events": int(w.events),
             "predicted": None if pd.isna(w.predicted) else float(w.predicted),
             "top_items": tops.get(int(w.interest), [])} for w in weights.itertuples()]


def titles_of(store: Store, item_ids: set[str]) -> dict[str, str | None]:
    if not item_ids:
        return {}
    return dict(store.rows("SELECT item_id, title FROM items WHERE item_id IN (SELECT unnest(?::VARCHAR[]))",
                           [sorted(item_ids)]))
