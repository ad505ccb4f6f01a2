"""The fused network: item representation (id + pretrained text + attributes), a behaviour-sequence
transformer, a GNN user vector over the user-item graph, TGN memory input, a gating decoder and a two-layer
scoring head over the full catalogue.

Shapes: items are 1-based inside the net (0 pads); ``item_table`` has n_items + 1 rows.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from igcore.graph.gnn import GraphEncoder
from igcore.pipeline.config import PipelineConfig


class IgcoreNet(nn.Module):
    def __init__(self, cfg: PipelineConfig, n_users: int, n_items: int, n_types: int,
                 text: torch.Tensor | None, attrs: torch.Tensor | None = None, n_attrs: int = 0) -> None:
        super().__init__()
        d = cfg.dim
        self.cfg, self.n_users, self.n_items = cfg, n_users, n_items
        self.item_id = _embedding(n_items + 1, d, padding_idx=0)
        self.text_proj = None
        if text is not None:  # (n_items + 1, T), zero rows for items without text
            self.register_buffer("text", text.float())
            self.text_proj = nn.Linear(text.shape[1], d, bias=False)
        self.attr_bag = None
        if attrs is not None and n_attrs:  # (n_items + 1, A) attribute ids, 0 = none; averaged per item
            self.register_buffer("attrs", attrs.long())
            self.attr_bag = nn.EmbeddingBag(n_attrs + 1, d, mode="mean", padding_idx=0)
            nn.init.normal_(self.attr_bag.weight, std=0.02)
        self.gnn = None
        if cfg.use_graph:  # user nodes start from zeros: a user's graph vector is a function of the graph only
            self.gnn = GraphEncoder(cfg.gnn, d, cfg.gnn_layers)
        self.type_emb = _embedding(n_types + 1, d, padding_idx=0)
        self.gap_emb = _embedding(cfg.gap_buckets + 1, d, padding_idx=0)
        self.pos_emb = _embedding(cfg.max_len, d)
        layer = nn.TransformerEncoderLayer(d, cfg.seq_heads, dim_feedforward=d, dropout=cfg.dropout,
                                           batch_first=True, norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, cfg.seq_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)
        self.mem_proj = nn.Linear(cfg.memory_dim, d) if cfg.use_temporal else None
        self.n_sources = 1 + int(cfg.use_graph) + int(cfg.use_temporal)
        self.gate = nn.Linear(self.n_sources * d, self.n_sources)
        with torch.no_grad():  # start from the sequence state (weight 0.91 of three sources): the other sources
            self.gate.bias.zero_()  # then have to earn their weight
            self.gate.bias[0] = 3.0
        self.head = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(2 * d, d))

    # --- encode + embed -------------------------------------------------------------------------------
    def item_table(self, graph: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Item vectors (n_items + 1, d) and graph user vectors (n_users, d) or None."""
        items = self.item_id.weight
        if self.text_proj is not None:
            items = items + self.text_proj(self.text)
        if self.attr_bag is not None:
            items = items + self.attr_bag(self.attrs)
        if self.gnn is None or graph is None:
            return items, None
        h = self.gnn(torch.cat([items.new_zeros(self.n_users, items.shape[1]), items[1:]]), graph)
        return items, h[: self.n_users]

    def sequence(self, items: torch.Tensor, seq: torch.Tensor, types: torch.Tensor,
                 gaps: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, d) of left-padded sequences; the last column is the latest event."""
        x, mask = self._inputs(items, seq, types, gaps)
        return self.norm(self.encoder(x, mask=mask))

    def last_state(self, items: torch.Tensor, seq: torch.Tensor, types: torch.Tensor,
                   gaps: torch.Tensor) -> torch.Tensor:
        """``sequence(...)[:, -1]`` (to float rounding), (B, d), for scoring: the last position of a causal
        encoder needs every position's keys but no other query, so the top layer runs attention and
        feed-forward for the last query alone (a quarter less work at two layers). In training mode, where
        every position has a target, it is the plain slice."""
        top = self.encoder.layers[-1]
        if self.training or not top.norm_first:
            return self.sequence(items, seq, types, gaps)[:, -1]
        x, mask = self._inputs(items, seq, types, gaps)
        for layer in self.encoder.layers[:-1]:
            x = layer(x, src_mask=mask)
        h = top.norm1(x)
        x = x[:, -1:] + top.self_attn(h[:, -1:], h, h, attn_mask=mask[:, -1:], need_weights=False)[0]
        x = x + top.linear2(top.activation(top.linear1(top.norm2(x))))
        return self.norm(x)[:, 0]

    def _inputs(self, items: torch.Tensor, seq: torch.Tensor, types: torch.Tensor,
                gaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The summed input embeddings (B, L, d) and the attention mask (B * heads, L, L): causal, and no
        padded key (each position may always see itself, so a fully padded row stays finite)."""
        length = seq.shape[1]
        pos = torch.arange(self.cfg.max_len - length, self.cfg.max_len, device=seq.device)
        x = items[seq] * math.sqrt(self.cfg.dim) + self.type_emb(types) + self.gap_emb(gaps) + self.pos_emb(pos)[None]
        x = self.dropout(x) * (seq > 0).unsqueeze(-1)
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=seq.device), 1)
        pad_key = (seq == 0)[:, None, :] & ~torch.eye(length, dtype=torch.bool, device=seq.device)[None]
        return x, (causal[None] | pad_key).repeat_interleave(self.cfg.seq_heads, dim=0)

    # --- decode + recommend -----------------------------------------------------------------------------
    def fuse(self, seq_state: torch.Tensor, graph_user: torch.Tensor | None,
             memory: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gated sum of the user's sources, each (..., d); returns (interest vector (..., d), gate weights
        (..., n_sources)). A missing source counts as zeros."""
        sources = [seq_state]
        if self.gnn is not None:
            sources.append(graph_user if graph_user is not None else torch.zeros_like(seq_state))
        if self.mem_proj is not None:
            sources.append(self.mem_proj(memory) if memory is not None else torch.zeros_like(seq_state))
        stacked = torch.stack(sources, dim=-2)  # (..., S, d)
        weights = torch.softmax(self.gate(stacked.flatten(-2)), dim=-1)
        return (weights.unsqueeze(-1) * stacked).sum(-2), weights

    def query(self, interest: torch.Tensor) -> torch.Tensor:
        """The scoring head (two layers, residual): the vector every item is scored against."""
        return interest + self.head(interest)

    def scores(self, query: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return query @ items[1:].T


def _embedding(n: int, d: int, padding_idx: int | None = None) -> nn.Embedding:
    """An embedding table drawn small (std 0.02, as SASRec's), its padding row zero. Every table summed into a
    sequence input is drawn this way: with torch's default (std 1) position, event type and time gap would
    outweigh the item (0.02 x sqrt(dim)) about tenfold, and the model would first have to learn to hear the
    item through them."""
    emb = nn.Embedding(n, d, padding_idx=padding_idx)
    nn.init.normal_(emb.weight, std=0.02)
    if padding_idx is not None:
        with torch.no_grad():
            emb.weight[padding_idx].zero_()
    return emb
