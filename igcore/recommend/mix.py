"""The graph's term in a score: the head's scores plus the co-occurrence graph's, at one weight.

The graph's scores (:func:`igcore.embed.cooccur.graph_scores`) are standardised per user and scaled by the
spread of that user's head scores, so ``weight`` means the same for every user and the ranking is that of
``standardise(head) + weight * standardise(graph)``: the head's own scores keep their units, and an
explanation splits a score into the head's parts and the graph's term exactly. Weight 0 ranks as the head does.
Numpy only: the model and the saved serving state both score through :func:`graph_term`.
"""

from __future__ import annotations

import numpy as np

from igcore.ranking import standardise

GRAPH_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)  # the weights validation tries


def graph_term(head: np.ndarray, graph: np.ndarray, weight: float) -> np.ndarray:
    """(n, n_items) what the graph adds to each of ``head``'s scores (same shape as both)."""
    if weight == 0:
        return np.zeros_like(head)
    spread = np.asarray(head, dtype=np.float64).std(axis=1, keepdims=True)
    return (weight * spread * standardise(graph)).astype(head.dtype)


def with_graph(head: np.ndarray, graph: np.ndarray, weight: float) -> np.ndarray:
    """The scores that rank: the head's plus the graph's term."""
    return head + graph_term(head, graph, weight)
