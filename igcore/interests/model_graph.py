"""One user's interest graph read from the trained model's own state: its K interest slots are the nodes.

A node is slot k of the decoder (:mod:`igcore.decode.track`): its weight is the share of the user's recent
behaviour routed to it; it is labelled by the catalogue interest (category, brand or cluster, the stored
nodes) that most of its top items belong to, and by those items; edges are transitions (consecutive events
routed from one slot to another) and co-activation (two slots held at once). Each recommendation is ranked by
the model's own score, query . v + max over slots of interest_k . v, and is attributed exactly: the slot that
won the max and the sequence query, their contributions summing to the score; the events listed are those
that formed the winning slot. Change points come from the same detector as the observed graph's
(:func:`igcore.interests.changes.detect_changes`), run over the catalogue interest each event's slot stood for,
an event's slot being the one whose vector scores its item highest: the rule that names a recommendation's slot.

Returned as an :class:`~igcore.interests.graph.InterestGraph` (kinds ``["model"]``), so every view of the
observed graph (text, HTML, JSON) shows the model's graph too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from igcore.decode.track import InterestTrack, coactivation, slot_transitions
from igcore.errors import IgcoreError
from igcore.interests.changes import detect_changes
from igcore.interests.config import InterestConfig
from igcore.interests.events import from_columns
from igcore.interests.explain import iso_utc
from igcore.interests.graph import InterestGraph, definitions, interest_graph, titles_of
from igcore.interests.nodes import InterestNodes
from igcore.interests.scoring import ModelScorer, top_k
from igcore.store import Store

MODEL_KIND = "model"
METHOD = "model interests (exact)"
LABEL_ITEMS = 10  # a slot is labelled by the catalogue interest of most of its this many best-scored items


def slot_id(k: int) -> str:
    return f"slot:{k}"


def has_interests(scorer: ModelScorer | None) -> bool:
    """Whether the scorer's model holds interest slots (a pipeline trained with ``interests`` > 0)."""
    return scorer is not None and getattr(getattr(scorer.model, "cfg", None), "interests", 0) > 0


def majority(top: np.ndarray, item_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows of item indexes (n, k): the catalogue interest (code) most of a row's items belong to (-1: none
    of them belongs to any; ties go to the lower code) and the share of the row it holds."""
    width = int(item_codes.max()) + 2 if len(item_codes) else 1
    counts = np.zeros((len(top), width))
    np.add.at(counts, (np.repeat(np.arange(len(top)), top.shape[1]), item_codes[top].ravel() + 1), 1)
    counts[:, 0] = 0  # items in no interest do not vote
    held = counts.max(1)
    return np.where(held > 0, counts.argmax(1) - 1, -1), held / max(top.shape[1], 1)


def slot_labels(top: np.ndarray, item_ids: np.ndarray, nodes: InterestNodes) -> list[tuple[str, float]]:
    """Each slot's label and purity from its top items (K, k) of item indexes: the catalogue interest most of
    them belong to (with `` · slot k`` when two slots share it) and the share of them it holds; a slot whose
    items belong to none is ``slot k``."""
    codes, purity = majority(top, nodes.codes(item_ids))
    names = [str(nodes.label[c]) if c >= 0 else f"slot {k}" for k, c in enumerate(codes)]
    twice = {n for n in names if names.count(n) > 1}  # two slots on one interest: name them apart
    return [(f"{n} · slot {k}" if n in twice else n, float(p) if c >= 0 else 0.0)
            for k, (n, c, p) in enumerate(zip(names, codes, purity))]


@dataclasses.dataclass(frozen=True)
class ModelSlots:
    """What the graph and the timeline of one user's slots are drawn from."""

    user_id: str
    index: int  # the model's user index
    track: InterestTrack
    table: np.ndarray  # (n_items, d) the item vectors the model scores against
    item_ids: np.ndarray  # object
    top: np.ndarray  # (K, LABEL_ITEMS) each slot's best-scored items now
    labels: list[tuple[str, float]]  # each slot's label and purity
    nodes: InterestNodes  # the catalogue interests that label the slots
    config: InterestConfig


def shown_graph(store: Store, user_id: str, model: ModelScorer | None = None,
                at: dt.datetime | None = None) -> InterestGraph:
    """The graph a user is shown: the model's slots when the model has them and knows the user (a model
    replayed up to ``at`` for a past time), else the observed graph up to ``at`` (with the model's predictions
    and recommendations when there is a model)."""
    if has_interests(model) and model.index_of(user_id) is not None:
        return model_graph(store, model, user_id)
    return interest_graph(store, user_id, at, model)


def model_slots(store: Store, scorer: ModelScorer, user_id: str, config: InterestConfig | None = None) -> ModelSlots:
    """The user's slots in the model's current state, labelled by the store's catalogue interests."""
    if not has_interests(scorer):
        raise IgcoreError("the trained model has no interest slots: train with --set interests=K (K > 0)")
    index = scorer.index_of(user_id)
    if index is None:
        raise IgcoreError(f"the trained model does not know user {user_id!r}: update or retrain it")
    config, nodes, _ = definitions(store, scorer, config)
    track = scorer.model.interest_tracks([index])[0]
    if len(track) == 0:
        raise IgcoreError(f"user {user_id!r} has no events in the model's state")
    item_ids = np.asarray(scorer.item_ids, dtype=object)
    table = np.asarray(scorer.model.item_vectors(), dtype=np.float64)
    top = track.top_items(len(track) - 1, table, LABEL_ITEMS)  # seen items included: what a slot is about
    return ModelSlots(user_id, index, track, table, item_ids, top, slot_labels(top, item_ids, nodes), nodes,
                      config)


def event_codes(track: InterestTrack, table: np.ndarray, item_codes: np.ndarray, slots: np.ndarray | None = None,
                k: int = LABEL_ITEMS, chunk: int = 4096) -> np.ndarray:
    """(L,) for each event, the catalogue interest (code; -1: none) of its slot as that slot stood after the
    event: the interest most of the slot's ``k`` best-scored items belong to. An event's slot is the one that
    claims it (:meth:`InterestTrack.claiming_slots`) unless ``slots`` (L,) names others (the routing's, say). A
    slot whose content moves to a new interest moves its events to a new code, so the change detector sees
    drift even when the new interest reuses a slot the user held before."""
    slots = track.claiming_slots(table) if slots is None else slots
    out = np.full(len(track), -1, dtype=np.int64)
    for lo in range(0, len(track), chunk):
        rows = np.arange(lo, min(lo + chunk, len(track)))
        scores = track.vectors[rows, slots[rows]] @ table.T  # (n, items)
        out[rows] = majority(np.argpartition(-scores, min(k, scores.shape[1]) - 1, axis=1)[:, :k], item_codes)[0]
    return out


def slot_shares(slots: ModelSlots) -> pd.DataFrame:
    """Each slot's weight after each of the user's events, long: event_index, ts (seconds), interest, label,
    share. Slot k is the same interest at every event, so this is the node's own history."""
    track, k = slots.track, slots.track.slots
    return pd.DataFrame({"event_index": np.repeat(np.arange(len(track)), k), "ts": np.repeat(track.times, k),
                         "interest": [slot_id(j) for j in range(k)] * len(track),
                         "label": [slots.labels[j][0] for j in range(k)] * len(track),
                         "share": track.weights.ravel().astype(np.float64)})


def model_graph(store: Store, scorer: ModelScorer, user_id: str, config: InterestConfig | None = None,
                top_events: int = 5, slots: ModelSlots | None = None) -> InterestGraph:
    """The user's interest graph in the model's current state (see the module's docstring)."""
    slots = slots or model_slots(store, scorer, user_id, config)
    model, track, table, item_ids, labels, config = (scorer.model, slots.track, slots.table, slots.item_ids,
                                                     slots.labels, slots.config)
    last = len(track) - 1
    seen = np.unique(track.items) if config.exclude_seen else None
    recs = _recommendations(model, slots.index, track, table, item_ids, seen, labels, config, top_events)
    names = titles_of(store, {*item_ids[slots.top.ravel()], *(r["item_id"] for r in recs)})
    for r in recs:
        r["title"] = names.get(r["item_id"])
    routed = track.event_slots()
    graph_nodes = [{"interest": slot_id(k), "kind": MODEL_KIND, "label": labels[k][0],
                    "weight": float(track.weights[last, k]), "share": float(track.weights[last, k]),
                    "events": int((routed == k).sum()), "predicted": None, "purity": labels[k][1],
                    "top_items": [{"item_id": item_ids[j], "title": names.get(item_ids[j]),
                                   "weight": float(track.vectors[last, k] @ table[j]), "events": 0}
                                  for j in slots.top[k, :config.top_items]],
                    "formed_by": _events(model, track, k, top_events, item_ids)}
                   for k in np.argsort(-track.weights[last], kind="stable")]
    return InterestGraph(user_id, iso_utc(track.times[last]), len(track), [MODEL_KIND], scorer.name, graph_nodes,
                         _edges(track), recs, _changes(slots))


def _events(model, track: InterestTrack, slot: int, k: int, item_ids: np.ndarray,
            contribution: float | None = None) -> list[dict]:
    """The events that formed ``slot`` in the latest state, strongest first, with their shares of its strength
    (routing times recency) and, given the slot's ``contribution`` to a score, their parts of it."""
    last, half_life = len(track) - 1, model.cfg.interest_half_life
    rows = track.formed_by(last, slot, half_life, k)
    strength = track.routes[rows, slot] * np.exp2(-(last - rows) / half_life)
    total = strength.sum()
    shares = strength / total if total > 0 else np.zeros(len(rows))
    names = getattr(model, "type_names", ())
    return [{"item_id": item_ids[track.items[r]], "event_index": int(r), "ts": iso_utc(track.times[r]),
             "event_type": names[track.types[r]] if track.types[r] < len(names) else "",
             "contribution": None if contribution is None else float(contribution * sh), "share": float(sh)}
            for r, sh in zip(rows, shares)]


def _edges(track: InterestTrack) -> list[dict]:
    """Slot -> slot edges over the whole track, strongest first: transitions (directed) and co-activation
    (undirected, listed once)."""
    out = []
    for kind, matrix in (("transition", slot_transitions(track.routes)), ("cooccurrence",
                                                                           coactivation(track.weights))):
        for a, b in zip(*np.nonzero(matrix > 0)):
            if kind == "cooccurrence" and a > b:
                continue
            out.append({"src": slot_id(int(a)), "dst": slot_id(int(b)), "kind": kind, "weight": float(matrix[a, b])})
    return sorted(out, key=lambda e: -e["weight"])


def _recommendations(model, index: int, track: InterestTrack, table: np.ndarray, item_ids: np.ndarray,
                     seen: np.ndarray | None, labels: list[tuple[str, float]], config: InterestConfig,
                     top_events: int) -> list[dict]:
    """The model's own top-k, each attributed exactly to the slot that won it, to the sequence query and to the
    graph at the score (with the user's latest items that link to it most)."""
    head, graph = (np.asarray(p, dtype=np.float64) for p in model.score_parts(np.array([index])))
    scores = head + graph
    if seen is not None:
        scores[:, seen] = -np.inf
    cols, vals = top_k(scores, config.top_k)
    last = len(track) - 1
    out = []
    for rank, (j, score) in enumerate(zip(cols[0], vals[0]), start=1):
        if j < 0:
            break
        by_slot = track.vectors[last] @ table[j]
        k = int(by_slot.argmax())
        part = float(by_slot[k])
        rest = float(score - part - graph[0, j])
        interests = [{"interest": slot_id(k), "label": labels[k][0], "contribution": part,
                      "share": part / score if score else None},
                     {"interest": None, "label": "(sequence state)", "contribution": rest,
                      "share": rest / score if score else None}]
        if graph[0, j]:
            linked = ", ".join(str(item_ids[i]) for i, _ in model.graph_links(index, int(j)))
            term = float(graph[0, j])
            label = f"(chosen together with {linked})" if linked else "(not chosen with the latest items)"
            interests.append({"interest": None, "label": label,
                              "contribution": term, "share": term / score if score else None})
        out.append({"rank": rank, "item_id": item_ids[j], "title": None, "score": float(score),
                    "interest": slot_id(k), "label": labels[k][0],
                    "explanation": {"item_id": item_ids[j], "score": float(score), "method": METHOD,
                                    "interests": interests,
                                    "events": _events(model, track, k, top_events, item_ids, part),
                                    "other_events": float(score - part)}})
    return out


def _changes(slots: ModelSlots) -> list[dict]:
    """Change points of the user's slots: the observed detector over the catalogue interest each event's slot
    stood for (:func:`event_codes`; measured against other codings in ``bench/interests_bench.py``)."""
    track, nodes = slots.track, slots.nodes
    log = from_columns(np.zeros(len(track), dtype=object), slots.item_ids[track.items],
                       np.full(len(track), "view", dtype=object), track.times, None, slots.config)
    found = detect_changes(log, event_codes(track, slots.table, nodes.codes(slots.item_ids)), slots.config)
    return [{"event_index": int(c.event_index), "ts": iso_utc(float(log.ts[c.row])),
             "interest": nodes.interest[c.interest], "label": nodes.label[c.interest],
             "faded": nodes.interest[c.faded] if c.faded >= 0 else None,
             "faded_label": nodes.label[c.faded] if c.faded >= 0 else None, "jsd": float(c.jsd)}
            for c in found.itertuples()]
