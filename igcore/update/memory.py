"""Interest memory over the time-ordered event stream: torch_geometric's ``TGNMemory`` (Rossi et al. 2020),
trained end to end.

Users and items are memory nodes (items numbered after users). Each event sends its user and its item one
message: both memories before the event's batch, the event's raw features (the item's content vector and its
event type, :func:`igcore.pipeline.net.IgcoreNet.message_features`) and the time since the node's last update;
a node keeps the message of its latest event in a batch (PyG's ``LastAggregator``), and the GRU moves its memory.
Every message of a batch is built from the memories as they were before the batch, so events of one batch never
see each other. An event older than its node's last update (a late import; under leave-one-out, a user's held-out
event whose item later training events already moved) moves the node with a zero time gap and sets no clock back.

``observe(events)`` advances the memory of the nodes those events touch, and only theirs, with no gradient, in
time proportional to the batch; it returns a :class:`Trace` of what each event's user memory was built from.
Training follows PyG's TGN example: the memory is replayed without gradients, and each training position reads
its user's memory recomputed from the trace with one differentiable GRU step (:meth:`InterestMemory.user_step`):
gradients reach the GRU, the message and time encoders and the item vectors through the user's latest update,
and stop at the memory before it (detached between batches).

``observe`` computes what ``TGNMemory.update_state`` computes on its inference path, with the module's own
layers, straight from the batch's tensors: PyG keeps a per-node message store in Python dicts and loops over the
batch's nodes to fill and read it. Here each user only ever sends and each item only ever receives, so every
node a batch touches has its stored messages replaced by that batch's before they are read: skipping the store
changes no result (a test checks against ``update_state``). Its GRU step takes the raw messages' share of the
input gates per item and event type (:class:`MessageInputs`), computed once for the item table.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from igcore.embed.pyg import IdentityMessage, LastAggregator, TGNMemory


@dataclasses.dataclass(frozen=True)
class Trace:
    """Per event of an observed batch: its user's and item's memories before the batch, and the time since
    the user's previous update (what :meth:`InterestMemory.user_step` needs to redo the user's update)."""

    user_before: torch.Tensor
    item_before: torch.Tensor
    user_gap: torch.Tensor

    @staticmethod
    def empty(n: int, memory_dim: int, device: torch.device | str = "cpu") -> Trace:
        """A trace of ``n`` events to fill chunk by chunk (:meth:`put`): a log's trace is allocated once, not
        gathered in parts and joined (which would hold it twice). Memories are kept at half precision (a GRU's
        state lies in (-1, 1), where float16 keeps about three decimal digits): a trace holds two memories per
        training event, the largest thing training keeps; :meth:`InterestMemory.user_step` computes from them in
        full precision."""
        memories = (torch.zeros(n, memory_dim, dtype=torch.float16, device=device) for _ in range(2))
        return Trace(*memories, torch.zeros(n, device=device))

    def put(self, start: int, part: Trace) -> None:
        """Write ``part``, the trace of the events from ``start`` on, into this one."""
        for f in dataclasses.fields(Trace):
            getattr(self, f.name)[start:start + len(part.user_gap)] = getattr(part, f.name)


@dataclasses.dataclass(frozen=True)
class MessageInputs:
    """What an event's raw message (its item's vector, then its event type's one-hot) adds to the GRU's input
    gates. The gates are linear in the message, so that share is its item's row plus its type's row, computed
    once per item and type (:meth:`InterestMemory.message_inputs`) instead of once per event and node: the raw
    message is most of the GRU's input, and so most of an update's cost per node."""

    items: torch.Tensor  # (rows of a 1-based item table, 3 * memory_dim)
    types: torch.Tensor  # (event types, 3 * memory_dim)

    def __call__(self, items: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """Per event: 0-based ``items`` and event ``types``."""
        return self.items.index_select(0, items.long() + 1).add_(self.types.index_select(0, types.long()))


def _since(t: torch.Tensor, last_update: torch.Tensor) -> torch.Tensor:
    """Time from each node's last update to its event, zero for an event older than that update (a late event,
    or under leave-one-out a user's held-out event that other users' later training events already passed): a
    node's clock never runs back, and its time encoder never reads a gap that training, in time order, never
    showed it."""
    return (t - last_update).clamp_min_(0)


def _latest(nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct ``nodes`` of a batch and, for each, the index of its latest event in the batch."""
    ids, index = nodes.unique(return_inverse=True)
    last = torch.full((len(ids),), -1, dtype=torch.long, device=nodes.device).scatter_reduce(
        0, index, torch.arange(len(nodes), device=nodes.device), reduce="amax")
    return ids, last


class _Memory(TGNMemory):
    """PyG's TGN memory without its message store. :class:`InterestMemory` folds each batch into memory itself
    (``observe``) and never reads the store, which PyG rebuilds as a Python dict entry per node on every reset:
    on a large graph that would cost seconds and much memory each time a model is built."""

    def _reset_message_store(self) -> None:
        self.msg_s_store, self.msg_d_store = {}, {}


class InterestMemory(nn.Module):
    def __init__(self, n_users: int, n_items: int, memory_dim: int = 64, time_dim: int = 16,
                 msg_dim: int = 8) -> None:
        super().__init__()
        self.n_users, self.n_items, self.msg_dim = n_users, n_items, msg_dim
        self.tgn = _Memory(n_users + n_items, msg_dim, memory_dim, time_dim,
                             message_module=IdentityMessage(msg_dim, memory_dim, time_dim),
                             aggregator_module=LastAggregator())
        self.tgn.training = False  # inference path always; see ``train``

    def train(self, mode: bool = True) -> InterestMemory:
        """Keep the memory on PyG's inference path. (Switching ``TGNMemory`` from training to eval pushes an
        empty message through every node, which would move memories that no event touched.)"""
        super().train(mode)
        self.tgn.training = False
        return self

    @property
    def device(self) -> torch.device:
        """Where the memory lives (the model's device): ``observe`` brings its inputs there."""
        return self.tgn.memory.device

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
    def message_inputs(self, table: torch.Tensor) -> MessageInputs:
        """The raw messages' share of the GRU's input gates for every row of the 1-based item ``table`` (the
        vectors messages carry) and every event type (what :meth:`observe` takes per event)."""
        raw = self.tgn.gru.weight_ih[:, 2 * self.memory_dim:2 * self.memory_dim + self.msg_dim]
        return MessageInputs(table @ raw[:, :table.shape[1]].T, raw[:, table.shape[1]:].T.contiguous())

    @property
    def memory_dim(self) -> int:
        return self.tgn.memory.shape[1]

    @torch.no_grad()
    def observe(self, users: torch.Tensor, items: torch.Tensor, ts: torch.Tensor, types: torch.Tensor | None = None,
                inputs: MessageInputs | None = None) -> Trace:
        """Fold a time-ordered batch of (user, item, time, event type) events into memory, the raw messages'
        share of the GRU's input gates from ``inputs`` (None: zero messages): each node takes the message of its
        latest event in the batch, built from the memories before the batch, and the GRU moves that node's
        memory (users' and items' in one step); its last update becomes that event's time. Returns the batch's
        :class:`Trace` (``user_before``: what the model knew of each event's user before the event)."""
        tgn, n, device = self.tgn, len(users), self.device
        src, dst, t = users.long().to(device), items.long().to(device) + self.n_users, ts.long().to(device)
        memory = tgn.memory
        trace = Trace(memory[src], memory[dst], _since(t, tgn.last_update[src]).to(memory.dtype))  # gathers: copies
        if n == 0:
            return trace
        item_gap = _since(t, tgn.last_update[dst]).to(memory.dtype)
        (user_ids, user_last), (item_ids, item_last) = _latest(src), _latest(dst)
        last = torch.cat([user_last, item_last])  # each moved node's message comes from this event
        own = torch.cat([trace.user_before[user_last], trace.item_before[item_last]])
        other = torch.cat([trace.item_before[user_last], trace.user_before[item_last]])
        gap = torch.cat([trace.user_gap[user_last], item_gap[item_last]])
        raw = inputs(items.to(device)[last], types.to(device)[last]) if inputs is not None else None
        ids = torch.cat([user_ids, item_ids])
        tgn.memory[ids] = self._gru(own, other, gap, raw)
        tgn.last_update[ids] = torch.maximum(t[last], tgn.last_update[ids])  # a late event moves no clock back
        return trace

    def _gru(self, own: torch.Tensor, other: torch.Tensor, gap: torch.Tensor,
             raw_share: torch.Tensor | None) -> torch.Tensor:
        """PyG's GRU step over the identity message (own memory, the other node's, the raw message, the time
        encoding), the raw message's share of the input gates given (``raw_share``): the same gates as
        ``tgn.gru(message, own)``, without multiplying the raw message per node."""
        gru, m = self.tgn.gru, self.memory_dim
        weight = torch.cat([gru.weight_ih[:, :2 * m], gru.weight_ih[:, 2 * m + self.msg_dim:]], dim=1)
        gates_in = torch.addmm(gru.bias_ih, torch.cat([own, other, self.tgn.time_enc(gap)], dim=1), weight.T)
        if raw_share is not None:
            gates_in += raw_share
        gates_h = torch.addmm(gru.bias_hh, own, gru.weight_hh.T)
        reset_update = gates_in[:, :2 * m].add_(gates_h[:, :2 * m]).sigmoid_()
        new = gates_in[:, 2 * m:].addcmul_(reset_update[:, :m], gates_h[:, 2 * m:]).tanh_()
        return new.lerp_(own, reset_update[:, m:])  # (1 - update) * new + update * own

    def user_step(self, trace: Trace, features: torch.Tensor) -> torch.Tensor:
        """The user memory after one event, differentiably: the GRU over the message its trace and raw
        ``features`` make (as :meth:`observe` computes it for the user's latest event of a batch)."""
        tgn, dtype = self.tgn, features.dtype
        user, item = trace.user_before.to(dtype), trace.item_before.to(dtype)
        msg = tgn.msg_s_module(user, item, features, tgn.time_enc(trace.user_gap))
        return tgn.gru(msg, user)

    def user_memory(self, users: torch.Tensor) -> torch.Tensor:
        return self.tgn.memory[users]

    def item_memory(self, items: torch.Tensor) -> torch.Tensor:
        return self.tgn.memory[items + self.n_users]

    def last_update(self) -> torch.Tensor:
        return self.tgn.last_update
