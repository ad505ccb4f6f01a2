"""The network: the stages' trainable modules wired from one :class:`PipelineConfig`.

encode (item vectors, behaviour-sequence transformer) -> embed (GNN user vectors over the user-item graph) ->
update (TGN memory, read as an input here; it lives in the online state) -> decode (gated fusion of the sources)
-> recommend (scoring head over the full catalogue). The modules are created in this order, which fixes the
order of their random initial draws.

Shapes: items are 1-based inside the net (0 pads); ``item_table`` has n_items + 1 rows.
"""

from __future__ import annotations

import torch
from torch import nn

from igcore.decode.fusion import SourceFusion
from igcore.embed.gnn import GraphEncoder
from igcore.embed.graph import user_vectors
from igcore.encode.item_encoder import ItemEncoder
from igcore.encode.sequence import SequenceEncoder
from igcore.pipeline.config import PipelineConfig
from igcore.recommend.head import ScoringHead


class IgcoreNet(nn.Module):
    def __init__(self, cfg: PipelineConfig, n_users: int, n_items: int, n_types: int,
                 text: torch.Tensor | None, attrs: torch.Tensor | None = None, n_attrs: int = 0) -> None:
        super().__init__()
        d = cfg.dim
        self.cfg, self.n_users, self.n_items = cfg, n_users, n_items
        self.items = ItemEncoder(n_items, d, text, attrs, n_attrs)
        self.gnn = GraphEncoder(cfg.gnn, d, cfg.gnn_layers) if cfg.use_graph else None
        self.seq = SequenceEncoder(d, n_types, cfg.gap_buckets, cfg.max_len, cfg.seq_layers, cfg.seq_heads,
                                   cfg.dropout)
        self.fusion = SourceFusion(d, cfg.memory_dim, cfg.use_graph, cfg.use_temporal)
        self.head = ScoringHead(d, cfg.dropout)

    @property
    def n_sources(self) -> int:
        return self.fusion.n_sources

    def item_table(self, graph: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Item vectors (n_items + 1, d) and graph user vectors (n_users, d), or None without a graph stage."""
        items = self.items()
        if self.gnn is None or graph is None:
            return items, None
        return items, user_vectors(self.gnn, items, graph, self.n_users)
