"""The serving state: what ``recommend`` needs, materialised when the model last saw the store.

Every user's query vector (the scoring head's output), the gate's source weights and the item table, and with
the graph at the score (:mod:`igcore.embed.cooccur`) the co-occurrence graph and each user's latest items, as
the online state stood after ``igcore train`` or ``igcore update``. On a store whose events have not changed since,
a recommendation is one row times the item table: no torch, no torch_geometric, no replay of the event log
(``bench/cli_fresh.py`` measures what that saves).

The state is keyed by the checkpoint's id (drawn at random by every training run) and a fingerprint of the
events as the model indexes them, so it is used only where replaying the log would give the same state: new
events of known users or items, a forgotten user, another checkpoint, or a time (``--at``) make callers replay
instead. Saved with ``safetensors.numpy``: plain arrays, never unpickled. It holds a vector per user, derived
from their events: deleting a user's events must delete this file too (or refresh it), not only the events.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from igcore.embed.cooccur import DECAY, graph_scores, linked_by
from igcore.events import Interactions
from igcore.paths import atomic_path
from igcore.recommend.mix import with_graph

SERVING = "serving.safetensors"


@dataclasses.dataclass(frozen=True)
class ServingState:
    """Query vectors (n_users, d), source weights (n_users, S), item vectors (n_items, d) and the interest
    queries (n_users, K, d) and weights (n_users, K) (K = 0 without interests), float32, and the graph at the
    score with each user's latest items (n_users, R); it scores like the model it came from (``score``,
    ``source_weights``, ``item_vectors``)."""

    queries: np.ndarray
    sources: np.ndarray
    items: np.ndarray
    key: str
    interests: np.ndarray | None = None
    interest_weights: np.ndarray | None = None
    hidden: np.ndarray | None = None  # (n_users, d) the sequence states the queries were fused from (not scored:
    #                                   a graph refresh fuses them again instead of re-running the sequence encoder)
    graph: sp.csr_matrix | None = None  # (n_items, n_items) the co-occurrence graph, or None without it
    latest: np.ndarray | None = None  # (n_users, R) each user's latest items, latest first, -1 past the first
    graph_weight: float = 0.0
    graph_decay: float = DECAY

    def score(self, users: np.ndarray) -> np.ndarray:
        """The query's score plus the best-matching interest's (as
        :meth:`igcore.decode.interests.InterestExtractor.scores`), plus the graph's term
        (:meth:`igcore.pipeline.model.IgcoreRecommender.score_parts`)."""
        users = np.asarray(users)
        out = self.queries[users] @ self.items.T
        if self.interests is not None and self.interests.shape[1]:
            out = out + (self.interests[users] @ self.items.T).max(axis=1)
        if self.graph is not None and self.graph_weight:
            out = with_graph(out, graph_scores(self.graph, self.latest[users], self.graph_decay), self.graph_weight)
        return out

    def graph_links(self, user: int, item: int, n: int = 3) -> list[tuple[int, float]]:
        """The user's latest items that add most to ``item``'s graph score, with what each adds (as
        :meth:`igcore.pipeline.model.IgcoreRecommender.graph_links`); none when the graph's weight is 0."""
        if self.graph is None or not self.graph_weight:
            return []
        return linked_by(self.graph, self.latest[user], item, self.graph_decay, n)

    def source_weights(self, users: np.ndarray) -> np.ndarray:
        return self.sources[np.asarray(users)]

    def item_vectors(self) -> np.ndarray:
        return self.items

    def with_rows(self, users: np.ndarray, part: ServingState) -> ServingState:
        """A copy with the rows of ``users`` taken from ``part`` (their rows only, in that order), and
        ``part``'s item table, graph and key; users numbered past this state's last (they joined since) get
        rows."""
        n = max(len(self.queries), int(np.max(users, initial=-1)) + 1)

        def merged(mine: np.ndarray | None, theirs: np.ndarray | None) -> np.ndarray | None:
            if mine is None:
                return None
            out = np.zeros((n, *mine.shape[1:]), dtype=mine.dtype)
            out[:len(mine)] = mine
            out[users] = theirs
            return out

        return ServingState(merged(self.queries, part.queries), merged(self.sources, part.sources), part.items,
                            part.key, merged(self.interests, part.interests),
                            merged(self.interest_weights, part.interest_weights), merged(self.hidden, part.hidden),
                            part.graph, merged(self.latest, part.latest), part.graph_weight, part.graph_decay)

    def save(self, path: Path) -> None:
        """Write to a temporary file beside ``path``, then swap it in: readers see the old state or the new."""
        arrays = {"queries": self.queries, "sources": self.sources, "items": self.items}
        if self.interests is not None:
            arrays.update(interests=self.interests, interest_weights=self.interest_weights)
        if self.hidden is not None:
            arrays["hidden"] = self.hidden
        metadata = {"key": self.key}
        if self.graph is not None:
            arrays.update({f"graph.{k}": getattr(self.graph, k) for k in ("indptr", "indices", "data")},
                          latest=self.latest)
            metadata.update(graph_weight=repr(float(self.graph_weight)), graph_decay=repr(float(self.graph_decay)))
        with atomic_path(path) as tmp:
            save_file(arrays, str(tmp), metadata=metadata)


def state_key(checkpoint_id: str, events: Interactions) -> str:
    """What a serving state depends on: the checkpoint's weights (named by its id) and the events in the
    model's own indexes, in order."""
    digest = hashlib.sha256(checkpoint_id.encode())
    for array in (events.user, events.item, events.ts, events.event_type):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()


def load_serving(path: Path, key: str) -> ServingState | None:
    """The state saved at ``path`` if it was made under ``key``; None if there is none or it is stale."""
    if not path.exists():
        return None
    with safe_open(str(path), framework="np") as f:
        metadata = f.metadata() or {}
    if metadata.get("key") != key:
        return None
    arrays = load_file(str(path))
    graph = {}
    if "latest" in arrays:
        n = len(arrays["items"])
        graph = {"graph": sp.csr_matrix((arrays["graph.data"], arrays["graph.indices"], arrays["graph.indptr"]),
                                        shape=(n, n)),
                 "latest": arrays["latest"], "graph_weight": float(metadata["graph_weight"]),
                 "graph_decay": float(metadata["graph_decay"])}
    return ServingState(arrays["queries"], arrays["sources"], arrays["items"], key, arrays.get("interests"),
                        arrays.get("interest_weights"), arrays.get("hidden"), **graph)
