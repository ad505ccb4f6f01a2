"""Simple baselines that every table reports beside the model: popularity, recency-weighted popularity,
item-to-item co-occurrence (ItemKNN) and last-item transitions (first-order Markov).

Sparse models (ItemKNN, Markov) add popularity times a tiny weight, so items they know nothing about are ordered
by popularity rather than tied.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

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
    """Cosine item-item similarity of co-occurrence in user histories, keeping ``neighbours`` per item; a user's
    score for an item sums its similarity to the user's last ``recent`` items, the latest weighing most."""

    name = "ItemKNN"

    def __init__(self, neighbours: int = 100, recent: int = 20, decay: float = 0.9) -> None:
        self.neighbours, self.recent, self.decay = neighbours, recent, decay

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        self._start(train)
        x = sp.csr_matrix((np.ones(len(train)), (train.user, train.item)), shape=(train.n_users, self.n_items))
        x.data[:] = 1.0  # presence, not counts
        co = (x.T @ x).tocsr().astype(np.float64)
        co.setdiag(0.0)
        co.eliminate_zeros()
        norm = np.sqrt(np.asarray(x.sum(axis=0)).ravel()) + 1e-9
        sim = sp.diags(1 / norm) @ co @ sp.diags(1 / norm)
        self.sim = _keep_top_per_row(sim.tocsr(), self.neighbours)

    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        rows, cols, vals = [], [], []
        for r, u in enumerate(users.tolist()):
            recent = self.histories[u][-self.recent:]
            for age, item in enumerate(reversed(recent)):
                rows.append(r)
                cols.append(item)
                vals.append(self.decay**age)
        weights = sp.csr_matrix((vals, (rows, cols)), shape=(len(users), self.n_items))
        return np.asarray((weights @ self.sim).todense()) + TIE_BREAK * self._popularity()


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


def _keep_top_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        start, end = m.indptr[r], m.indptr[r + 1]
        if end == start:
            continue
        data, idx = m.data[start:end], m.indices[start:end]
        keep = np.argsort(-data, kind="stable")[:k]
        rows.extend([r] * len(keep))
        cols.extend(idx[keep].tolist())
        vals.extend(data[keep].tolist())
    return sp.csr_matrix((vals, (rows, cols)), shape=m.shape)
