"""The online state of a trained pipeline: what new events move without any gradient step.

Each user's history (:mod:`igcore.update.histories`: items, event types, times, the sequence encoder's input),
the edges of the user-item graph and the TGN memory.
``replay`` rebuilds it for a whole log, in time order, in ``memory_batch`` chunks: a restored checkpoint and a
freshly trained model reach the same state from the same events. ``resume`` picks up a saved state; ``update``
appends events in time proportional to them; ``fork`` gives a copy that can move on alone ("what if"
questions).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from igcore.events import Interactions
from igcore.update.histories import Column, Histories
from igcore.update.memory import InterestMemory, MessageInputs, Trace

Features = Callable[[], MessageInputs | None]  # the message inputs of the network's current item vectors


class OnlineState:
    def __init__(self, n_users: int, memory: InterestMemory | None, memory_batch: int,
                 features: Features | None = None) -> None:
        self.n_users, self.memory, self.memory_batch = n_users, memory, memory_batch
        self.features = features  # an event's message inputs, from the network's current item vectors
        self.histories = Histories(n_users)
        self.edges: list[tuple[np.ndarray, np.ndarray]] = []
        self.pending = 0  # events taken in since the graph vectors were last computed

    @property
    def items(self) -> Column:
        """Each user's items, in time order (``items[u]``)."""
        return self.histories.column("items")

    @property
    def types(self) -> Column:
        return self.histories.column("types")

    @property
    def times(self) -> Column:
        return self.histories.column("times")

    def set_histories(self, events: Interactions) -> None:
        """Histories of exactly ``events`` (graph and memory untouched)."""
        self.histories = Histories.of(events, self.n_users)

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
        self.histories.append(events)
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
        twin.histories = self.histories.copy()
        twin.edges = list(self.edges)
        if self.memory is not None:
            twin.memory = self.memory.fork()
        return twin

    def observe(self, events: Interactions, inputs: MessageInputs | None = None, trace: bool = False) -> Trace | None:
        """Advance memory over ``events`` in ``memory_batch`` chunks, their messages from ``inputs`` (by default
        the state's own ``features``); with ``trace``, return the :class:`Trace` of every event (what training
        recomputes memories from: it grows with the log, so only training asks for it)."""
        step, memory = self.memory_batch, self.memory
        if inputs is None and self.features is not None:
            inputs = self.features()
        out = Trace.empty(len(events), memory.tgn.memory.shape[1], memory.device) if trace else None
        for lo in range(0, len(events), step):
            part = memory.observe(*(torch.as_tensor(c[lo:lo + step]) for c in (events.user, events.item, events.ts,
                                                                                 events.event_type)), inputs)
            if out is not None:
                out.put(lo, part)
        return out
