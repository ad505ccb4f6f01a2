"""The online state of a trained pipeline: what new events move without any gradient step.

Each user's history (items, event types, times: the sequence encoder's input, one numpy array per user and
field, so a large log costs no Python object per event), the edges of the user-item graph and the TGN memory.
``replay`` rebuilds it for a whole log, in time order, in ``memory_batch`` chunks: a restored checkpoint and a
freshly trained model reach the same state from the same events. ``resume`` picks up a saved state; ``update``
appends events in time proportional to them; ``fork`` gives a copy that can move on alone ("what if"
questions).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from igcore.events import Interactions, split_at
from igcore.update.memory import InterestMemory, Trace

Features = Callable[[np.ndarray, np.ndarray], torch.Tensor]  # (items, event types) -> raw message features
_EMPTY = np.zeros(0, dtype=np.int64)


def _fields(events: Interactions) -> tuple[tuple[str, np.ndarray], ...]:
    """The history fields and the event columns they hold."""
    return ("items", events.item), ("types", events.event_type), ("times", events.ts)


class OnlineState:
    def __init__(self, n_users: int, memory: InterestMemory | None, memory_batch: int,
                 features: Features | None = None) -> None:
        self.n_users, self.memory, self.memory_batch = n_users, memory, memory_batch
        self.features = features  # the raw message of an event, from the network's current item vectors
        # per user, in time order; an array is replaced, never changed in place, when events are appended
        self.items: list[np.ndarray] = [_EMPTY] * n_users
        self.types: list[np.ndarray] = [_EMPTY] * n_users
        self.times: list[np.ndarray] = [_EMPTY] * n_users
        self.edges: list[tuple[np.ndarray, np.ndarray]] = []
        self.pending = 0  # events taken in since the graph vectors were last computed

    def set_histories(self, events: Interactions) -> None:
        """Histories of exactly ``events`` (graph and memory untouched)."""
        order = np.argsort(events.user, kind="stable")  # each user's events, in time order
        cuts = np.searchsorted(events.user[order], np.arange(1, self.n_users))
        for name, values in _fields(events):
            setattr(self, name, split_at(np.asarray(values[order], dtype=np.int64), cuts))

    def replay(self, events: Interactions) -> None:
        """The canonical state for a log: histories, graph edges and memory rebuilt from ``events``."""
        self.resume(events, 0)
        if self.memory is not None:
            self.memory.reset_state()
            self.observe(events)

    def resume(self, events: Interactions, pending: int) -> None:
        """Histories and graph edges of ``events``, ``pending`` of them since the graph vectors were computed;
        the memory as it stands (a caller resuming from disk has loaded it: :mod:`igcore.update.saved`)."""
        self.set_histories(events)
        self.edges = [(events.user, events.item)]
        self.pending = pending

    @property
    def n_events(self) -> int:
        """Events in the graph (every event taken in)."""
        return sum(len(users) for users, _ in self.edges)

    def update(self, events: Interactions, graph_refresh: int) -> bool:
        """Take in new events: histories, edges, memory. True when ``graph_refresh`` events have come in since
        the graph vectors were computed (the caller then recomputes them)."""
        self.append(events)
        self.edges.append((events.user, events.item))
        if self.memory is not None:
            self.observe(events)
        self.pending += len(events)
        if self.pending >= graph_refresh:
            self.pending = 0
            return True
        return False

    def fork(self, users: np.ndarray) -> OnlineState:
        """A copy that can take in events of ``users`` alone: those users' histories, the edge list and the
        memory's state are copied; everything else is shared (only read)."""
        twin = OnlineState.__new__(OnlineState)
        vars(twin).update(vars(self))
        for name in ("items", "types", "times"):  # arrays are replaced on append: the lists alone are copied
            setattr(twin, name, list(getattr(self, name)))
        twin.edges = list(self.edges)
        if self.memory is not None:
            twin.memory = self.memory.fork()
        return twin

    def append(self, events: Interactions) -> None:
        order = np.argsort(events.user, kind="stable")  # each user's new events, in time order
        users, starts = np.unique(events.user[order], return_index=True)
        for name, values in _fields(events):
            histories = getattr(self, name)
            parts = split_at(np.asarray(values[order], dtype=np.int64), starts[1:])
            for u, part in zip(users.tolist(), parts):
                histories[u] = np.concatenate([histories[u], part])

    def observe(self, events: Interactions, features: Features | None = None, trace: bool = False) -> Trace | None:
        """Advance memory over ``events`` in ``memory_batch`` chunks, their raw messages from ``features`` (by
        default the state's own); with ``trace``, return the :class:`Trace` of every event (what training
        recomputes memories from: it grows with the log, so only training asks for it)."""
        step, memory, features = self.memory_batch, self.memory, features or self.features
        out = Trace.empty(len(events), memory.tgn.memory.shape[1], memory.device) if trace else None
        for lo in range(0, len(events), step):
            users, items = events.user[lo:lo + step], events.item[lo:lo + step]
            raw = features(items, events.event_type[lo:lo + step]) if features is not None else None
            part = memory.observe(torch.as_tensor(users), torch.as_tensor(items),
                                  torch.as_tensor(events.ts[lo:lo + step]), raw)
            if out is not None:
                out.put(lo, part)
        return out
