"""The network: the stages' trainable modules wired from one :class:`PipelineConfig`.

encode (item vectors, behaviour-sequence transformer) -> embed (GNN user vectors over the user-item graph) ->
update (TGN memory, read as an input here; it lives in the online state) -> decode (gated fusion of the sources)
-> recommend (scoring head over the full catalogue). The modules are created in this order, which fixes the
order of their random initial draws.

Shapes: items are 1-based inside the net (0 pads); ``item_table`` has n_items + 1 rows.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from igcore.decode.fusion import SourceFusion
from igcore.decode.interests import InterestExtractor
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
        self.cfg, self.n_users, self.n_items, self.n_types = cfg, n_users, n_items, n_types
        self.items = ItemEncoder(n_items, d, text, attrs, n_attrs, cfg.text_start)
        self.gnn = GraphEncoder(cfg.gnn, d, cfg.gnn_layers) if cfg.gnn_stage else None
        self.seq = SequenceEncoder(d, n_types, cfg.gap_buckets, cfg.max_len, cfg.seq_layers, cfg.seq_heads,
                                   cfg.dropout, cfg.seq_mixer, cfg.mixer_alpha, cfg.mixer_c)
        self.fusion = SourceFusion(d, cfg.memory_dim, cfg.gnn_stage, cfg.use_temporal, cfg.source_dropout)
        self.head = ScoringHead(d, cfg.dropout)
        self.interests = InterestExtractor(d, cfg.interests, cfg.interest_half_life) if cfg.interests else None
        # graph_residual: an item keeps its own vector and gains the propagated one by a learned weight from 0
        self.graph_weight = nn.Parameter(torch.zeros(())) if cfg.gnn_stage and cfg.graph_residual else None

    @property
    def n_sources(self) -> int:
        return self.fusion.n_sources

    def interest_queries(self, hidden: torch.Tensor, real: torch.Tensor,
                         last: bool = False) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The users' interests as scoring queries (B, L, K, d) and their weights (B, L, K) (``last``: at the
        last position only, L = 1), or None without interests: each interest vector goes through the scoring
        head, as the sequence query does."""
        if self.interests is None:
            return None
        vectors, weights = self.interests(hidden, real, last)
        return self.head(vectors), weights

    @property
    def message_dim(self) -> int:
        """Width of an event's raw memory message (:meth:`message_features`)."""
        return self.cfg.dim + self.n_types

    def message_features(self, items: torch.Tensor, item_ids: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """An event's raw memory message: its item's vector in the item table ``items`` (1-based rows) and a
        one-hot of its event type, for 0-based ``item_ids`` and ``types``."""
        kind = nn.functional.one_hot(types.long(), self.n_types).to(items.dtype)
        return torch.cat([items[item_ids.long() + 1], kind], dim=-1)

    def item_table(self, graph: torch.Tensor | None, rows: torch.Tensor | None = None,
                   users: torch.Tensor | None = None) -> ItemTables:
        """The item vectors (n_items + 1, d) the sequence reads and items are scored against, the item
        encoder's own (``base``: what memory messages carry) and the graph user vectors (n_users, d, or those of
        ``users`` alone, in their order), each without a graph stage (or with ``graph`` None) as
        :class:`ItemTables` documents. Without a graph, ``rows`` gives the compact table of those rows alone
        (:class:`ItemEncoder`); a graph reads every item."""
        if self.gnn is None or graph is None:
            base = self.items(rows)
            return ItemTables(base, base, None)
        base = self.items()
        if self.cfg.graph_on == "items":
            return ItemTables(self.propagate(base, graph), base, None)
        return ItemTables(base, base, user_vectors(self.gnn, base, graph, self.n_users, users))

    def propagate(self, items: torch.Tensor, graph: torch.Tensor) -> torch.Tensor:
        """The item table after the GNN over the user-item ``graph`` (user nodes start from zeros, so an item's
        vector takes in the items its users also chose), its padding row kept."""
        h = self.gnn(torch.cat([items.new_zeros(self.n_users, items.shape[1]), items[1:]]), graph)[self.n_users:]
        if self.graph_weight is not None:
            h = items[1:] + self.graph_weight * h
        return torch.cat([items[:1], h])


class ItemTables(NamedTuple):
    """``table``: what the sequence reads and the catalogue is scored against (the graph-propagated item
    vectors when the graph acts on items); ``base``: the item encoder's vectors; ``graph_user``: the GNN's user
    vectors when the graph acts on users, else None."""

    table: torch.Tensor
    base: torch.Tensor
    graph_user: torch.Tensor | None
