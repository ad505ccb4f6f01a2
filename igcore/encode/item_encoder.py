"""Stage 1, encode: each item's vector from its id, its pretrained text vector and its attribute tokens.

The schema decides the inputs: a catalogue with text gets the text term, one with attributes the attribute
term, an ids-only log neither. Items are 1-based (row 0 pads), so the table has n_items + 1 rows.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from igcore.encode.sequence import small_embedding
from igcore.encode.side import SideInfo

MAX_ATTRS = 8  # attribute tokens per item
TEXT_STARTS = ("drawn", "zero")  # the text projection's first weights (PipelineConfig.text_start)


class ItemEncoder(nn.Module):
    def __init__(self, n_items: int, dim: int, text: torch.Tensor | None = None,
                 attrs: torch.Tensor | None = None, n_attrs: int = 0, text_start: str = "drawn") -> None:
        super().__init__()
        self.item_id = small_embedding(n_items + 1, dim, padding_idx=0)
        self.sparse_ids = True  # a compact table's id vectors get sparse gradients (off where they must be dense)
        self.text_proj = None
        if text is not None:  # (n_items + 1, T), zero rows for items without text
            self.register_buffer("text", text.float())
            self.text_proj = nn.Linear(text.shape[1], dim, bias=False)
            if text_start not in TEXT_STARTS:
                raise ValueError(f"text_start must be one of {', '.join(TEXT_STARTS)}, not {text_start!r}")
            if text_start == "zero":
                nn.init.zeros_(self.text_proj.weight)
        self.attr_bag = None
        if attrs is not None and n_attrs:  # (n_items + 1, A) attribute ids, 0 = none; averaged per item
            self.register_buffer("attrs", attrs.long())
            self.attr_bag = nn.EmbeddingBag(n_attrs + 1, dim, mode="mean", padding_idx=0)
            nn.init.normal_(self.attr_bag.weight, std=0.02)

    def forward(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Item vectors (n_items + 1, d); row 0 is the padding item (zero). With ``rows`` (1-based item rows,
        distinct), a compact table of those rows alone, (len(rows) + 1, d): row j + 1 is item row ``rows[j]``,
        row 0 pads. A training batch that reads a few items of a large catalogue (sampled negatives) then pays
        for those: their text projected and, with ``sparse_ids``, a sparse gradient for their id vectors (an
        optimiser over the id table then touches only them: :func:`igcore.pipeline.trainer.optimiser`)."""
        if rows is None:
            items = self.item_id.weight
            pick = lambda t: t  # noqa: E731
        else:
            items = nn.functional.embedding(rows, self.item_id.weight, sparse=self.sparse_ids)
            pick = lambda t: t[rows]  # noqa: E731
        if self.text_proj is not None:
            items = items + self.text_proj(pick(self.text))
        if self.attr_bag is not None:
            items = items + self.attr_bag(pick(self.attrs))
        if rows is None:
            return items
        return torch.cat([items.new_zeros(1, items.shape[1]), items])


def text_matrix(side: SideInfo, item_ids: np.ndarray) -> torch.Tensor | None:
    """(n_items + 1, T) text vectors in the model's item order, zero rows for items without text; None when no
    item has text."""
    rows = [(i, side.text[item]) for i, item in enumerate(item_ids) if item in side.text]
    if not rows:
        return None
    out = torch.zeros(len(item_ids) + 1, len(rows[0][1]))
    for i, vec in rows:
        out[i + 1] = torch.as_tensor(vec)
    return out


def attr_matrix(side: SideInfo, item_ids: np.ndarray) -> tuple[torch.Tensor | None, int]:
    """(n_items + 1, MAX_ATTRS) attribute token ids (0 = none) and the vocabulary size; (None, 0) without any."""
    vocab, out = attr_vocab(side, item_ids)
    return (out, len(vocab)) if vocab else (None, 0)


def attr_vocab(side: SideInfo, item_ids: np.ndarray) -> tuple[dict[str, int], torch.Tensor]:
    """The attribute vocabulary of ``item_ids`` (token -> id from 1, in the order the items first name them)
    and their (n_items + 1, MAX_ATTRS) token ids; the items' order fixes the ids."""
    vocab: dict[str, int] = {}
    out = np.zeros((len(item_ids) + 1, MAX_ATTRS), dtype=np.int64)
    for i, item in enumerate(item_ids):
        for j, token in enumerate(side.attrs.get(item, [])[:MAX_ATTRS]):
            out[i + 1, j] = vocab.setdefault(token, len(vocab) + 1)
    return vocab, torch.as_tensor(out)
