"""The item-item co-occurrence graph and what it says about a user: the graph stage that scores.

Two items are linked by the cosine of their co-occurrence in users' histories (how many users chose both, over
the square root of each item's number of users), each item keeping its ``neighbours`` strongest links. This is
the user-item graph's two-hop item-item propagation, counted rather than trained. A user's graph score for an
item sums the item's links to the items of the user's ``recent`` latest events, the latest weighing most
(``decay`` per event back).

Numpy and scipy only: the ItemKNN baseline, the pipeline (``graph_on="score"``) and the saved serving state all
score through these functions, so a recommendation served without torch equals the model's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

NEIGHBOURS = 100
RECENT = 20
DECAY = 0.9


def cooccurrence(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
                 neighbours: int = NEIGHBOURS) -> sp.csr_matrix:
    """The (n_items, n_items) cosine co-occurrence of the (user, item) events, no self-links, the top
    ``neighbours`` links of each row kept (ties by item index). A user counts once per item, however often."""
    x = sp.csr_matrix((np.ones(len(users)), (np.asarray(users), np.asarray(items))), shape=(n_users, n_items))
    x.data[:] = 1.0  # presence, not counts
    co = (x.T @ x).tocsr().astype(np.float64)
    co.setdiag(0.0)
    co.eliminate_zeros()
    norm = np.sqrt(np.asarray(x.sum(axis=0)).ravel()) + 1e-9
    return keep_top_per_row((sp.diags(1 / norm) @ co @ sp.diags(1 / norm)).tocsr(), neighbours)


def keep_top_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """``m`` with each row's ``k`` largest entries kept (the earlier column first among equals)."""
    m = m.tocsr()
    m.sort_indices()
    keep = np.zeros(m.nnz, dtype=bool)
    for r in range(m.shape[0]):
        start, end = m.indptr[r], m.indptr[r + 1]
        if end > start:
            keep[start + np.argsort(-m.data[start:end], kind="stable")[:k]] = True
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


def latest_items(histories: Sequence[Sequence[int]], users: Sequence[int], recent: int = RECENT) -> np.ndarray:
    """(len(users), ``recent``) int32: the items of each user's latest events, latest first, -1 past the
    first event."""
    out = np.full((len(users), recent), -1, dtype=np.int32)
    for r, u in enumerate(users):
        last = list(histories[u][-recent:])[::-1]
        out[r, :len(last)] = last
    return out


def recent_weights(latest: np.ndarray, n_items: int, decay: float = DECAY) -> sp.csr_matrix:
    """(rows, n_items): ``decay`` to the power of each event's place in its row of :func:`latest_items`, summed
    over an item's events."""
    rows, cols = np.nonzero(latest >= 0)
    return sp.csr_matrix((decay ** cols.astype(np.float64), (rows, latest[rows, cols])),
                         shape=(len(latest), n_items))


def graph_scores(graph: sp.csr_matrix, latest: np.ndarray, decay: float = DECAY) -> np.ndarray:
    """(rows, n_items) float64: each row's items' links to the items of its row of :func:`latest_items`."""
    return np.asarray((recent_weights(latest, graph.shape[0], decay) @ graph).todense())


def linked_by(graph: sp.csr_matrix, latest: np.ndarray, item: int, decay: float = DECAY,
              n: int = 3) -> list[tuple[int, float]]:
    """The ``n`` items of one row of :func:`latest_items` that add most to ``item``'s graph score, with what
    each adds (the terms :func:`graph_scores` sums over its events), largest first; items without a link to it
    left out."""
    weights = recent_weights(latest[None], graph.shape[0], decay)
    column = graph[:, item].toarray().ravel()
    parts = [(int(i), float(w * column[i])) for i, w in zip(weights.indices, weights.data)]
    return sorted([p for p in parts if p[1] > 0], key=lambda p: (-p[1], p[0]))[:n]
