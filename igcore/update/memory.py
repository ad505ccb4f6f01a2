"""Interest memory over the time-ordered event stream: torch_geometric's ``TGNMemory`` (Rossi et al. 2020).

Users and items are memory nodes (items numbered after users). ``observe(events)`` advances the memory of the
nodes those events touch, and only theirs, with no gradient step, in time proportional to the batch. Every
message of a batch is computed from the memories as they were before the batch, so events of one batch never
see each other; a node's messages within a batch are averaged.

``observe`` computes what ``TGNMemory.update_state`` computes on its inference path, with the module's own
message, time, aggregation and GRU layers, but straight from the batch's tensors: PyG keeps a per-node message
store in Python dicts and loops over the batch's nodes to fill and read it, which was half the time of an
update. Here each user only ever sends and each item only ever receives, so every node a batch touches has its
stored messages replaced by that batch's before they are read: the store never holds anything the batch does
not carry, and skipping it changes no result (a test checks against ``update_state``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch_geometric.nn.models.tgn import IdentityMessage, MeanAggregator, TGNMemory
from torch_geometric.utils import scatter


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
        """Every memory zero, never updated (PyG's reset also rebuilds its message store, unused here)."""
        self.tgn.memory.zero_()
        self.tgn.last_update.zero_()

    def fork(self) -> InterestMemory:
        """A memory with its own state and the same modules (GRU, message and time encoders: weights, only
        read): only the buffers ``observe`` writes in place are copied, so it costs the state's size."""
        tgn = copy.copy(self.tgn)
        vars(tgn)["_buffers"] = {k: v.clone() for k, v in self.tgn._buffers.items()}
        twin = copy.copy(self)
        vars(twin)["_modules"] = {**self._modules, "tgn": tgn}
        return twin

    @torch.no_grad()
    def observe(self, users: torch.Tensor, items: torch.Tensor, ts: torch.Tensor,
                features: torch.Tensor | None = None) -> torch.Tensor:
        """Fold a time-ordered batch of (user, item, time[, features]) events into memory: each event sends
        one message to its user and one to its item, built from the memories before the batch; a node's
        messages are aggregated, and the GRU moves that node's memory; its last update is its latest event.
        Returns each event's user memory before the batch: what the model knew of that user before the event."""
        tgn, n = self.tgn, len(users)
        if n == 0:
            return tgn.memory.new_zeros(0, tgn.memory.shape[1])
        raw = features.float() if features is not None else torch.zeros(n, self.msg_dim)
        src, dst, t = users.long(), items.long() + self.n_users, ts.long()
        node, t2 = torch.cat([src, dst]), torch.cat([t, t])
        t_enc = tgn.time_enc((t2 - tgn.last_update[node]).to(raw.dtype))
        memory = tgn.memory
        before = memory[src]
        msg = torch.cat([tgn.msg_s_module(before, memory[dst], raw, t_enc[:n]),
                         tgn.msg_d_module(memory[dst], before, raw, t_enc[n:])])
        n_id, index = node.unique(return_inverse=True)
        aggr = tgn.aggr_module(msg, index, t2, len(n_id))
        tgn.memory[n_id] = tgn.gru(aggr, memory[n_id])
        tgn.last_update[n_id] = scatter(t2, index, 0, len(n_id), reduce="max")
        return before

    def user_memory(self, users: torch.Tensor) -> torch.Tensor:
        return self.tgn.memory[users]

    def item_memory(self, items: torch.Tensor) -> torch.Tensor:
        return self.tgn.memory[items + self.n_users]

    def last_update(self) -> torch.Tensor:
        return self.tgn.last_update
