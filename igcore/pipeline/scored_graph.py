"""The graph stage at the score (``graph_on="score"``): the co-occurrence graph of the events the model knows,
read over each user's latest events, adds its term to the head's scores (:mod:`igcore.recommend.mix`).

Nothing in it is trained. The graph is built when first read and again after the online state's graph refresh
(as the GNN's vectors are); its weight is the config's, or chosen on validation once the network is trained:
the weight whose NDCG@10 is best, the smallest among equals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from igcore.embed.cooccur import cooccurrence, graph_scores, latest_items
from igcore.pipeline.config import PipelineConfig
from igcore.recommend.mix import GRAPH_WEIGHTS, graph_term
from igcore.update.online import OnlineState


@dataclasses.dataclass
class ScoredGraph:
    """The settings of the graph at the score, its chosen ``weight`` and the graph built from the events."""

    neighbours: int
    recent: int
    decay: float
    weight: float
    graph: sp.csr_matrix | None = None

    @classmethod
    def of(cls, cfg: PipelineConfig) -> ScoredGraph | None:
        """The stage ``cfg`` asks for, or None; its weight the config's, or 0 until :meth:`choose` (training
        validates the network alone)."""
        if not cfg.graph_scores:
            return None
        return cls(cfg.graph_neighbours, cfg.graph_recent, cfg.graph_decay, max(cfg.graph_weight, 0.0))

    def built(self, state: OnlineState, n_items: int) -> sp.csr_matrix:
        """The graph of the online ``state``'s events, built once: the model drops it when the events change
        (a copy with ``graph=None``, so that a fork does not drop its parent's), and items joining rebuild it."""
        if self.graph is None or self.graph.shape[0] != n_items:
            edges = state.edges
            users = np.concatenate([u for u, _ in edges]) if edges else np.zeros(0, dtype=np.int64)
            items = np.concatenate([i for _, i in edges]) if edges else np.zeros(0, dtype=np.int64)
            self.graph = cooccurrence(users, items, state.n_users, n_items, self.neighbours)
        return self.graph

    def latest(self, histories: Sequence[Sequence[int]], users: np.ndarray) -> np.ndarray:
        return latest_items(histories, np.asarray(users).tolist(), self.recent)

    def term(self, head: np.ndarray, graph: sp.csr_matrix, latest: np.ndarray, weight: float) -> np.ndarray:
        """What the graph adds at ``weight`` to ``head``, the head's scores of the users whose latest items are
        ``latest`` (:meth:`latest`)."""
        return graph_term(head, graph_scores(graph, latest, self.decay), weight)

    def choose(self, configured: float, ndcgs: Callable[[Sequence[float]], list[float]] | None) -> dict[float, float]:
        """Set the weight: ``configured`` when not negative; else the best of :data:`GRAPH_WEIGHTS` by
        ``ndcgs`` (validation NDCG@10 at each weight), or 0 without validation data (nothing says the graph
        helps this log). Returns the NDCG@10 of each weight tried (none when nothing was)."""
        if configured >= 0 or ndcgs is None:
            self.weight = max(configured, 0.0)
            return {}
        found = ndcgs(GRAPH_WEIGHTS)
        self.weight = GRAPH_WEIGHTS[int(np.argmax(found))]  # argmax: the first (smallest) of equals
        return dict(zip(GRAPH_WEIGHTS, found))
