"""A trained pipeline's serving state (:class:`igcore.recommend.serving.ServingState`): every user's query
vector, source weights and interests, the item table and the graph at the score with each user's latest items,
to score without the network while the events stay as they are.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import torch

from igcore.pipeline.windows import length_chunks
from igcore.recommend.serving import ServingState

if TYPE_CHECKING:
    from igcore.pipeline.model import IgcoreRecommender

SERVING_POSITIONS = 8192  # window positions (rows times the longest row) per sequence-encoder call when serving


@torch.no_grad()
def serving_state(model: IgcoreRecommender, key: str, since: ServingState | None = None,
                  users: np.ndarray | None = None, tables_changed: bool = False, chunk: int = 2048) -> ServingState:
    """``model``'s serving state, keyed ``key``.

    Given ``since``, the serving state before ``users`` had new events, only those users' sequences are encoded
    again. When ``tables_changed`` (the graph was refreshed, or items joined) and a GNN acts on users, every
    other user's query is fused again from the sequence state ``since`` kept: their histories did not move, and
    the item vectors their sequences read did not either. With the GNN acting on items, or without kept states,
    every user is encoded again. Without a GNN, other users' rows stand: joined items add their own rows, and
    the graph at the score comes whole with the touched users' rows."""
    if not model.cfg.gnn_stage:
        tables_changed = False
    reuse = since is not None and (not tables_changed or (since.hidden is not None and
                                                           model.cfg.graph_on == "users"))
    if not reuse:
        return serving_rows(model, np.arange(model.n_users), key, chunk)
    touched = np.unique(np.asarray(users, dtype=np.int64))
    merged = since.with_rows(touched, serving_rows(model, touched, key, chunk))
    if not tables_changed:
        return merged
    fused = serving_rows(model, np.arange(model.n_users), key, chunk, torch.as_tensor(merged.hidden))
    return dataclasses.replace(fused, interests=merged.interests, interest_weights=merged.interest_weights)


@torch.no_grad()
def serving_rows(model: IgcoreRecommender, rows: np.ndarray, key: str, chunk: int,
                 hidden: torch.Tensor | None = None) -> ServingState:
    """The serving arrays of ``rows`` alone (in that order); with ``hidden`` (a sequence state per row), fused
    from those states without the sequence encoder (and without interests). Users are encoded in chunks of
    similar history length (:func:`length_chunks`)."""
    cfg, items = model.cfg, model.state.items
    if hidden is None:
        lengths = np.array([min(len(items[u]), cfg.max_len) for u in rows], dtype=np.int64)
        groups = length_chunks(lengths, chunk, SERVING_POSITIONS)
    else:
        groups = [np.arange(lo, min(lo + chunk, len(rows))) for lo in range(0, len(rows), chunk)]
    parts = [model.queries(rows[g], None if hidden is None else hidden[g]) for g in groups]
    back = torch.as_tensor(np.argsort(np.concatenate(groups))) if groups else None  # to the order of ``rows``
    k, d = cfg.interests, cfg.dim

    def joined(name: str, *shape: int) -> np.ndarray | None:
        values = [getattr(p, name) for p in parts if getattr(p, name) is not None]
        if not values and parts and name.startswith("interest"):
            return None
        out = torch.cat(values)[back.to(values[0].device)] if values else torch.zeros(len(rows), *shape)
        return np.ascontiguousarray(out.float().cpu().numpy(), dtype=np.float32)

    stage = model.scored_graph
    graph = {} if stage is None else {
        "graph": stage.built(model.state, model.n_items), "latest": stage.latest(items, rows),
        "graph_weight": stage.weight, "graph_decay": stage.decay}
    return ServingState(joined("query", d), joined("sources", model.net.n_sources),
                        np.ascontiguousarray(model.item_vectors(), dtype=np.float32), key,
                        joined("interests", k, d) if k else None, joined("interest_weights", k) if k else None,
                        joined("hidden", d), **graph)
