"""A user's interests as the model holds them after each of their events: the nodes of the interest graph over
time, with the routing that formed them.

The decoder's slot k (:class:`igcore.decode.interests.InterestExtractor`) is one attention head with its own
learned weights, so slot k after event 10 and slot k after event 40 are the same interest by construction: a node
keeps its identity over time without matching snapshots. Pure numpy over what the network produced.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class InterestTrack:
    """One user's interests after each event, oldest first; ``K`` slots of width ``d``."""

    items: np.ndarray  # (L,) 0-based item index of each event
    types: np.ndarray  # (L,) 0-based event-type index of each event
    times: np.ndarray  # (L,) timestamp of each event
    vectors: np.ndarray  # (L, K, d) interest queries after each event: score item j by vectors[p, k] . v_j
    weights: np.ndarray  # (L, K) each slot's share of the recent behaviour after each event (rows sum to 1)
    routes: np.ndarray  # (L, K) each event's share routed to each slot (rows sum to 1)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def slots(self) -> int:
        return self.weights.shape[1]

    def event_slots(self) -> np.ndarray:
        """The slot each event was routed to most: (L,)."""
        return self.routes.argmax(1)

    def claiming_slots(self, table: np.ndarray) -> np.ndarray:
        """The slot each event belongs to by the model's score: (L,) the slot whose vector after the event
        scores the event's item highest in the item table (n, d), the rule that names the interest behind a
        recommendation (:meth:`igcore.decode.interests.InterestExtractor.producing`); ties go to the lower slot."""
        return np.einsum("lkd,ld->lk", self.vectors, table[self.items]).argmax(1)

    def formed_by(self, position: int, slot: int, half_life: float, k: int) -> np.ndarray:
        """The up to ``k`` events (indexes, strongest first) that formed ``slot`` at ``position``: their routing
        to the slot times the recency weight with which they count in its weight (halving every ``half_life``
        events back); events routed elsewhere come last and are left out when they add nothing."""
        age = position - np.arange(position + 1)
        strength = self.routes[:position + 1, slot] * np.exp2(-age / half_life)
        order = np.argsort(-strength, kind="stable")[:k]
        return order[strength[order] > 0]

    def top_items(self, position: int, table: np.ndarray, k: int) -> np.ndarray:
        """Each slot's ``k`` best items (K, k) at ``position`` by its own score against the item table (n, d)."""
        scores = self.vectors[position] @ table.T  # (K, n)
        k = min(k, table.shape[0])
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
        return np.take_along_axis(part, order, 1)


def track_windows(n_events: int, max_len: int) -> list[tuple[int, int]]:
    """Windows that give every event of a history of ``n_events`` its state with at least ``max_len // 2``
    events of context (or all before it, near the start): (first kept event, window end), the window holding
    the ``max_len`` events before its end and keeping its events from the first kept one on. The first window,
    then one every half window, then the last; each event is kept exactly once."""
    first = min(max_len, n_events)
    step = max(max_len // 2, 1)
    ends = sorted({first, *range(first + step, n_events, step), n_events}) if n_events else []
    return list(zip([0, *ends[:-1]], ends))


def coactivation(weights: np.ndarray, floor: float = 0.05) -> np.ndarray:
    """(K, K) how much two slots are held at once: the mean over positions of the product of their weights
    where both hold at least ``floor``; the diagonal is zero."""
    w = np.where(weights >= floor, weights, 0.0)
    out = w.T @ w / max(len(w), 1)
    np.fill_diagonal(out, 0.0)
    return out


def slot_transitions(routes: np.ndarray) -> np.ndarray:
    """(K, K) expected count of consecutive events routed from slot a to slot b (a != b): the sum over event
    pairs of route[t-1, a] * route[t, b]."""
    if len(routes) < 2:
        return np.zeros((routes.shape[1],) * 2)
    out = routes[:-1].T @ routes[1:]
    np.fill_diagonal(out, 0.0)
    return out
