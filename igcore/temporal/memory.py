"""Interest memory over the time-ordered event stream: torch_geometric's ``TGNMemory`` (Rossi et al. 2020).

Users and items are memory nodes (items numbered after users). ``observe(events)`` advances the memory of the
nodes those events touch, and only theirs, with no gradient step, in time proportional to the batch. Every
message of a batch is computed from the memories as they were before the batch, so events of one batch never
see each other; a node's messages within a batch are averaged.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch_geometric.nn.models.tgn import IdentityMessage, MeanAggregator, TGNMemory


class InterestMemory(nn.Module):
    def __init__(self, n_users: int, n_items: int, memory_dim: int = 64, time_dim: int = 16,
                 msg_dim: int = 8) -> None:
        super().__init__()
        self.n_users, self.n_items, self.msg_dim = n_users, n_items, msg_dim
        self.tgn = TGNMemory(n_users + n_items, msg_dim, memory_dim, time_dim,
                             message_module=IdentityMessage(msg_dim, memory_dim, time_dim),
                             aggregator_module=MeanAggregator())
        self.tgn.training = False  # inference path always; see ``train``

    def train(self, mode: bool = True) -> InterestMemory:
        """Keep the memory on PyG's inference path. (Switching ``TGNMemory`` from training to eval pushes an
        empty message through every node, which would move memories that no event touched.)"""
        super().train(mode)
        self.tgn.training = False
        return self

    def reset_state(self) -> None:
        self.tgn.reset_state()

    def fork(self) -> InterestMemory:
        """A memory with its own state and the same modules (GRU, message and time encoders: weights, only
        read): the buffers ``observe`` writes in place are cloned; the message stores, whose entries an update
        replaces and never mutates, are shallow copies. Costs the state's size, not a deep copy's."""
        tgn = copy.copy(self.tgn)
        vars(tgn)["_buffers"] = {k: v.clone() for k, v in self.tgn._buffers.items()}
        tgn.msg_s_store, tgn.msg_d_store = dict(self.tgn.msg_s_store), dict(self.tgn.msg_d_store)
        twin = copy.copy(self)
        vars(twin)["_modules"] = {**self._modules, "tgn": tgn}
        return twin

    @torch.no_grad()
    def observe(self, users: torch.Tensor, items: torch.Tensor, ts: torch.Tensor,
                features: torch.Tensor | None = None) -> None:
        """Fold a time-ordered batch of (user, item, time[, features]) events into memory."""
        if features is None:
            features = torch.zeros(len(users), self.msg_dim)
        # PyG's inference path: store this batch's messages, then update the nodes they touch.
        self.tgn.update_state(users, items + self.n_users, ts.long(), features.float())

    def user_memory(self, users: torch.Tensor) -> torch.Tensor:
        return self.tgn.memory[users]

    def item_memory(self, items: torch.Tensor) -> torch.Tensor:
        return self.tgn.memory[items + self.n_users]

    def last_update(self) -> torch.Tensor:
        return self.tgn.last_update
