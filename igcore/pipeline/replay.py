"""The memory source of training positions, trained end to end in the manner of PyG's TGN example.

The training log is replayed through the memory without gradients, before the first epoch and after each
(:meth:`MemoryReplay.replay`, under the weights of that moment); each training position then reads its user's
memory as one differentiable GRU step over the message of the user's latest event before the position's chunk
(:meth:`MemoryReplay.before`), so the loss reaches the memory's GRU, message and time encoders and the item
vectors the messages carry, and stops at the memory before that step. A position never reads a memory that
holds its own target: the trace is taken before each chunk, as :func:`igcore.update.memory.prior_events` describes.
"""

from __future__ import annotations

import torch

from igcore.events import Interactions
from igcore.pipeline.net import IgcoreNet
from igcore.update.memory import Trace, prior_events
from igcore.update.online import OnlineState


class MemoryReplay:
    def __init__(self, net: IgcoreNet, state: OnlineState, train: Interactions) -> None:
        self.net, self.state, self.train = net, state, train
        self.prior = torch.as_tensor(prior_events(train.user, state.memory_batch))
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
        prior = self.prior[target_events.cpu()]
        return self.items[prior[prior >= 0]] + 1

    def before(self, target_events: torch.Tensor, items: torch.Tensor,
               renumber: torch.Tensor | None = None) -> torch.Tensor:
        """(..., memory_dim): each position's user memory before its target event (given by its index in the
        training log), recomputed with gradients from ``items``, the batch's item table (a compact one when
        ``renumber`` maps each 1-based item row to its row there)."""
        prior = self.prior[target_events.cpu()]
        has = prior >= 0
        out = items.new_zeros(*prior.shape, self.memory.tgn.memory.shape[1])
        p = prior[has]  # events on the CPU, their trace where the memory is
        at = p.to(self.trace.user_before.device)
        trace = Trace(self.trace.user_before[at], self.trace.item_before[at], self.trace.user_gap[at])
        ids = self.items[p].to(items.device)
        if renumber is not None:
            ids = renumber[ids + 1] - 1
        features = self.net.message_features(items, ids, self.types[p].to(items.device))
        out[has.to(out.device)] = self.memory.user_step(trace, features)
        return out
