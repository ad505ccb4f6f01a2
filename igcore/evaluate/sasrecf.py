"""SASRecF: our SASRec given the item side information the pipeline uses (RecBole's SASRecF in spirit).

Each item's vector is the pipeline's own item encoder (:class:`igcore.encode.item_encoder.ItemEncoder`): its id
embedding plus a projection of its pretrained text vector (where the catalogue has text) plus the mean of its
attribute-token embeddings; the same vector is the output layer's. Everything else is SASRec's. Against the
pipeline, it isolates what the graph, the memory and the interests add beyond side information.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from igcore.encode.item_encoder import ItemEncoder, attr_matrix, text_matrix
from igcore.encode.side import SideInfo
from igcore.evaluate.sasrec import SASRec, SASRecConfig, SASRecNet
from igcore.events import Interactions


class SASRecFNet(SASRecNet):
    """SASRec's network over the item encoder's vectors instead of a plain id table."""

    def __init__(self, n_items: int, cfg: SASRecConfig, items: ItemEncoder) -> None:
        super().__init__(n_items, cfg)
        self.items = items
        self.item_emb = items.item_id  # one id table: the encoder's (drawn alike, padding row zero)

    def embed(self, seq: torch.Tensor) -> torch.Tensor:
        return self.items()[seq]

    def item_table(self) -> torch.Tensor:
        return self.items()


class SASRecF(SASRec):
    name = "SASRecF"
    config_class = SASRecConfig

    def __init__(self, config: SASRecConfig | None = None, side: SideInfo | None = None, **overrides) -> None:
        super().__init__(config, **overrides)
        self.side = side or SideInfo()
        self.item_ids: np.ndarray = np.zeros(0, dtype=object)

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        self.item_ids = train.item_ids
        super().fit(train, valid)

    def _network(self) -> nn.Module:
        text = text_matrix(self.side, self.item_ids)
        attrs, n_attrs = attr_matrix(self.side, self.item_ids)
        return SASRecFNet(self.n_items, self.cfg, ItemEncoder(self.n_items, self.cfg.dim, text, attrs, n_attrs))
