"""Simple baselines that every table reports beside the model: popularity, recency-weighted popularity,
item-to-item co-occurrence (ItemKNN) and last-item transitions (first-order Markov).

Sparse models (ItemKNN, Markov) add popularity times a tiny weight, so items they know nothing about are ordered
by popularity rather than tied.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from igcore.embed.cooccur import DECAY, NEIGHBOURS, RECENT, cooccurrence, graph_scores, latest_items
from igcore.events import Interactions
from igcore.ranking import top_k

TIE_BREAK = 1e-6


class HistoryState:
    """Per-user item sequences and item counts kept up to date by ``fit`` and ``update``."""

    name = "history"

    def _start(self, train: Interactions) -> None:
        self.n_items = train.n_items
        self.counts = np.bincount(train.item, minlength=self.n_items).astype(np.float64)
        self.histories: list[list[int]] = [s.tolist() for s in train.sequences()]
        self.last_ts = int(train.ts.max()) if len(train) else 0

    def update(self, events: Interactions) -> None:
        np.add.at(self.counts, events.item, 1.0)
        for u, i in zip(events.user.tolist(), events.item.tolist()):
            self.histories[u].append(i)
        if len(events):
            self.last_ts = max(self.last_ts, int(events.ts.max()))

    def _popularity(self) -> np.ndarray:
        return self.counts / max(self.counts.max(), 1.0)

    def recommend(self, user: int, k: int = 10, at: int | None = None) -> np.ndarray:
        return top_k(self.score(np.array([user]), at), k)[0]

    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class MostPop(HistoryState):
    """Everyone gets the most interacted-with items."""

    name = "MostPop"

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        self._start(train)

    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), self.n_items)).copy()


class RecencyPop(HistoryState):
    """Popularity with each event's weight halving every ``half_life_days`` before the time asked about."""

    name = "RecencyPop"

    def __init__(self, half_life_days: float = 7.0) -> None:
        self.half_life = half_life_days * 86400.0

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        self._start(train)
        self.ref = float(self.last_ts)
        self.decayed = np.zeros(self.n_items)
        self._add(train)

    def _add(self, events: Interactions) -> None:
        # Weights are kept relative to a fixed reference time, so adding events never rescales old ones.
        np.add.at(self.decayed, events.item, np.exp2((events.ts - self.ref) / self.half_life))

    def update(self, events: Interactions) -> None:
        super().update(events)
        self._add(events)

    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        return np.broadcast_to(self.decayed, (len(users), self.n_items)).copy()


class ItemKNN(HistoryState):
    """The item-item co-occurrence graph alone (:mod:`igcore.embed.cooccur`, the pipeline's graph stage that
    scores): cosine co-occurrence, ``neighbours`` per item; a user's score for an item sums its links to the
    items of the user's last ``recent`` events, the latest weighing most."""

    name = "ItemKNN"

    def __init__(self, neighbours: int = NEIGHBOURS, recent: int = RECENT, decay: float = DECAY) -> None:
        self.neighbours, self.recent, self.decay = neighbours, recent, decay

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        self._start(train)
        self.sim = cooccurrence(train.user, train.item, train.n_users, self.n_items, self.neighbours)

    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        latest = latest_items(self.histories, users.tolist(), self.recent)
        return graph_scores(self.sim, latest, self.decay) + TIE_BREAK * self._popularity()


class Markov(HistoryState):
    """First-order transitions: P(next item | last item), from consecutive pairs in each user's history."""

    name = "Markov"

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        self._start(train)
        self.pairs: list[tuple[list[int], list[int]]] = [
            ([i for s in self.histories for i in s[:-1]], [i for s in self.histories for i in s[1:]])]
        self._trans: sp.csr_matrix | None = None

    def update(self, events: Interactions) -> None:
        src, dst = [], []
        for u, i in zip(events.user.tolist(), events.item.tolist()):
            if self.histories[u]:
                src.append(self.histories[u][-1])
                dst.append(i)
            self.histories[u].append(i)
        np.add.at(self.counts, events.item, 1.0)
        self.pairs.append((src, dst))
        self._trans = None  # rebuilt on the next score, once per batch of updates

    def _transitions(self) -> sp.csr_matrix:
        if self._trans is None:
            src = [i for s, _ in self.pairs for i in s]
            dst = [i for _, d in self.pairs for i in d]
            counts = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(self.n_items, self.n_items))
            totals = np.asarray(counts.sum(axis=1)).ravel()
            self._trans = sp.diags(1 / np.maximum(totals, 1)) @ counts
            self.pairs = [(src, dst)]
        return self._trans

    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        out = np.tile(TIE_BREAK * self._popularity(), (len(users), 1))
        has = np.array([bool(self.histories[u]) for u in users.tolist()], dtype=bool)
        if has.any():
            last = [self.histories[u][-1] for u in users[has].tolist()]
            out[has] += self._transitions()[last].toarray()
        return out

