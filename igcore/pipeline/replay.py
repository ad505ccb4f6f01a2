"""The memory source of training positions, trained end to end in the manner of PyG's TGN example.

The training log is replayed through the memory without gradients, before the first epoch and after each
(:meth:`MemoryReplay.replay`, under the weights of that moment). Each training position then reads its user's
memory after the user's previous event, recomputed with gradients as one GRU step over that event's message from
the memories its trace kept (:meth:`MemoryReplay.before`): the loss reaches the memory's GRU, message and time
encoders and the item vectors the messages carry, and stops at the memory before that step. A position never
reads its own target (the previous event's trace was taken before that event's chunk, which may hold the target).

Reading the update of the previous event itself, rather than the memory as it stood before the target's chunk,
is what serving reads: a scored user's memory has taken in every event, the latest included. A log of same-day
events (Amazon's reviews) puts a user's consecutive events in one chunk, and the chunk's memory would miss them.
"""

from __future__ import annotations

import numpy as np
import torch

from igcore.events import Interactions
from igcore.pipeline.net import IgcoreNet
from igcore.update.memory import Trace
from igcore.update.online import OnlineState


def previous_events(users: np.ndarray) -> np.ndarray:
    """For each event of a time-ordered log: the index of its user's previous event, or -1 for a user's first."""
    order = np.argsort(users, kind="stable")
    repeat = users[order][1:] == users[order][:-1]
    previous = np.full(len(users), -1, dtype=np.int64)
    previous[order[1:][repeat]] = order[:-1][repeat]
    return previous


class MemoryReplay:
    def __init__(self, net: IgcoreNet, state: OnlineState, train: Interactions) -> None:
        self.net, self.state, self.train = net, state, train
        self.previous = torch.as_tensor(previous_events(train.user))
        self.items, self.types = torch.as_tensor(train.item), torch.as_tensor(train.event_type)
        self.trace: Trace | None = None

    @property
    def memory(self):
        return self.state.memory

    def replay(self) -> None:
        """The training log through a fresh memory, without gradients, messages from the current item vectors."""
        was_training = self.net.training
        self.net.eval()
        with torch.no_grad():
            table = self.net.items()
            inputs = self.memory.message_inputs(table)
        self.net.train(was_training)
        self.memory.reset_state()
        self.trace = None  # the last epoch's trace goes before this one is built
        self.trace = self.state.observe(self.train, inputs, trace=True)

    def item_rows(self, target_events: torch.Tensor) -> torch.Tensor:
        """The 1-based item rows :meth:`before` reads for these positions (the items of the events it redoes)."""
        previous = self.previous[target_events.cpu()]
        return self.items[previous[previous >= 0]] + 1

    def before(self, target_events: torch.Tensor, items: torch.Tensor,
               renumber: torch.Tensor | None = None) -> torch.Tensor:
        """(..., memory_dim): each position's user memory after the user's previous event (zeros before a user's
        first), the position's target event given by its index in the training log; recomputed with gradients
        from ``items``, the batch's item table (a compact one when ``renumber`` maps each 1-based item row to its
        row there)."""
        previous = self.previous[target_events.cpu()]
        has = previous >= 0
        out = items.new_zeros(*previous.shape, self.memory.tgn.memory.shape[1])
        p = previous[has]  # events on the CPU, their trace where the memory is
        at = p.to(self.trace.user_before.device)
        trace = Trace(self.trace.user_before[at], self.trace.item_before[at], self.trace.user_gap[at])
        ids = self.items[p].to(items.device)
        if renumber is not None:
            ids = renumber[ids + 1] - 1
        features = self.net.message_features(items, ids, self.types[p].to(items.device))
        out[has.to(out.device)] = self.memory.user_step(trace, features)
        return out
