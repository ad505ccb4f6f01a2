"""Users and items that arrive after training: the model serves them from their events and their content.

The network has no per-user parameter: a user is their events (sequence, graph, memory), so a new user costs a
zero row in the memory and in the graph user vectors until the graph's next refresh. An item's vector is its id
row plus its text and attribute terms (:class:`igcore.encode.item_encoder.ItemEncoder`). An item the checkpoint
never saw has no trained id row: it gets the mean id row of the trained items its users chose (its
co-occurrences), and its text and attribute terms from the catalogue as any item does (attribute tokens the
training catalogue did not have are left out). An item with none of the three has a zero vector: it is not
served until it co-occurs with a trained item.

An item's rows are made once, when it first appears after training, and saved with the online state
(:mod:`igcore.update.saved`), so every later load builds the same network from the same weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from igcore.encode.item_encoder import MAX_ATTRS, attr_vocab
from igcore.encode.side import SideInfo
from igcore.events import Interactions

ID_ROWS, TEXT_ROWS, ATTR_ROWS = "net.items.item_id.weight", "net.items.text", "net.items.attrs"


@dataclasses.dataclass(frozen=True)
class Joined:
    """Users and items that joined a trained model, in the order they joined, and the joined items' rows of
    the per-item weights (item id, text and attribute tables; no padding row)."""

    users: list[str] = dataclasses.field(default_factory=list)
    items: list[str] = dataclasses.field(default_factory=list)
    rows: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)

    def served_items(self) -> int:
        """Joined items whose vector has something to score with (a nonzero id, text or attribute row)."""
        if not self.items:
            return 0
        some = torch.zeros(len(self.items), dtype=torch.bool)
        for rows in self.rows.values():
            some |= rows.reshape(len(self.items), -1).ne(0).any(dim=1)
        return int(some.sum())

    def then(self, later: Joined) -> Joined:
        """These joined, then ``later``."""
        keys = set(self.rows) | set(later.rows)
        return Joined(self.users + later.users, self.items + later.items,
                      {k: torch.cat([r[k] for r in (self.rows, later.rows) if k in r]) for k in keys})


def item_rows(weights: dict[str, torch.Tensor], events: Interactions, first: int, trained_items: Sequence[str],
              side: SideInfo, tokens: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """Per-item weight rows for items ``first`` .. ``events.n_items - 1`` (numbered after every item the
    network has rows for; ``events`` in those indexes): the co-occurrence id row, and text and attribute rows
    from ``side`` where the network has those terms. The attribute vocabulary is ``tokens`` (the trained one,
    token ids from 1 in this order) where the checkpoint recorded it; otherwise it is made again from the
    attributes ``side`` gives ``trained_items`` (the checkpoint's items, whose order fixed it), and used only
    where it gives the trained items the token ids they were trained with."""
    ids = weights[ID_ROWS]
    new = np.arange(first, events.n_items)
    out = {ID_ROWS: cooccurrence_rows(ids[1:len(trained_items) + 1], events, first, len(trained_items))}
    names = events.item_ids[new]
    if TEXT_ROWS in weights:
        text = torch.zeros(len(new), weights[TEXT_ROWS].shape[1])
        for r, item in enumerate(names):
            if item in side.text:
                text[r] = torch.as_tensor(side.text[item])
        out[TEXT_ROWS] = text
    if ATTR_ROWS in weights:
        if tokens is not None:
            vocab, same = {t: i for i, t in enumerate(tokens, 1)}, True
        else:
            vocab, trained = attr_vocab(side, np.asarray(trained_items, dtype=object))
            same = torch.equal(trained, weights[ATTR_ROWS][:len(trained)])  # the catalogue names them as trained
        attrs = torch.zeros(len(new), MAX_ATTRS, dtype=weights[ATTR_ROWS].dtype)
        if same:
            for r, item in enumerate(names):
                tokens = [vocab[t] for t in side.attrs.get(item, []) if t in vocab][:MAX_ATTRS]
                attrs[r, :len(tokens)] = torch.as_tensor(tokens, dtype=attrs.dtype)
        out[ATTR_ROWS] = attrs
    return out


def cooccurrence_rows(trained_ids: torch.Tensor, events: Interactions, first: int, n_trained: int) -> torch.Tensor:
    """For each item from ``first`` on: the mean of ``trained_ids`` (one row per trained item) over the events
    on trained items of the users who chose it (each such user counted once per item); zero for an item whose
    users chose no trained item."""
    ids = trained_ids.detach().double()
    new = events.item >= first
    choosers = np.zeros(events.n_users, dtype=bool)
    choosers[events.user[new]] = True  # only their events on trained items count: the rest of the log is skipped
    trained = torch.as_tensor((events.item < n_trained) & choosers[events.user])
    users, items = torch.as_tensor(events.user), torch.as_tensor(events.item)
    user_sum = ids.new_zeros(events.n_users, ids.shape[1]).index_add_(0, users[trained], ids[items[trained]])
    user_count = ids.new_zeros(events.n_users).index_add_(0, users[trained], ids.new_ones(int(trained.sum())))
    pairs = torch.as_tensor(np.unique(np.stack([events.item[new] - first, events.user[new]]), axis=1))
    n_new = events.n_items - first
    item_sum = ids.new_zeros(n_new, ids.shape[1]).index_add_(0, pairs[0], user_sum[pairs[1]])
    item_count = ids.new_zeros(n_new).index_add_(0, pairs[0], user_count[pairs[1]])
    return (item_sum / item_count.clamp(min=1).unsqueeze(1)).to(trained_ids.dtype)


def grown(weights: dict[str, torch.Tensor], joined: Joined) -> dict[str, torch.Tensor]:
    """``weights`` with the joined items' rows appended to every per-item table."""
    out = dict(weights)
    for key, rows in joined.rows.items():
        if key in out:
            out[key] = torch.cat([out[key], rows.to(out[key].dtype)])
    return out
