"""The pipeline's sequence path as a network whose every weight Opacus can give per-user gradients.

The same stages as the pipeline with ``use_graph=False, use_temporal=False, interests=0``
(item vectors -> behaviour-sequence transformer -> scoring head -> scores over the catalogue; the one-source gate
of :class:`igcore.decode.fusion.SourceFusion` is the identity and is left out), with three changes that
per-sample gradient hooks need, each keeping what the module computes:

- item vectors are looked up per position (:class:`PrivateItemInputs`: id embedding + projected text vector +
  mean attribute embedding, as :class:`igcore.encode.item_encoder.ItemEncoder`), not read from a table computed
  over the catalogue, whose rows no hook can attribute to a user;
- attention is :class:`PrivateSelfAttention` (four ``nn.Linear``), a drop-in for ``nn.MultiheadAttention``
  inside the pipeline's ``nn.TransformerEncoderLayer``; Opacus's own ``DPMultiheadAttention`` checks a 3-D
  mask against the wrong dimensions when ``batch_first`` and mixes heads in its output, so it is not used;
- the scores come from a separate output layer (``nn.Linear(dim, n_items)``), not from the item table the input
  reads (weight tying is outside what per-sample hooks support). It starts as a copy of the input item table,
  so training starts where the pipeline's tied model does.

Frozen: the pretrained text vectors (a buffer; the text encoder never runs here). Trained: everything else.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from igcore.encode.sequence import SequenceEncoder, attention_mask, small_embedding
from igcore.pipeline.config import PipelineConfig
from igcore.recommend.head import ScoringHead


class PrivateSelfAttention(nn.Module):
    """Multi-head attention from ``nn.Linear`` layers, called as a ``batch_first`` ``nn.MultiheadAttention`` with
    an ``attn_mask`` of shape (B * heads, Lq, Lk): boolean (True = hidden) or additive; no fused fast path."""

    batch_first = True
    _qkv_same_embed_dim = False  # keeps nn.TransformerEncoderLayer off its fused path, which reads in_proj_*
    in_proj_weight = None
    in_proj_bias = None

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = dim, heads
        self.q, self.k, self.v, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))
        self.dropout = nn.Dropout(dropout)

    @classmethod
    def like(cls, mha: nn.MultiheadAttention) -> PrivateSelfAttention:
        """The same attention as ``mha`` (its weights copied): computes what ``mha`` does."""
        out = cls(mha.embed_dim, mha.num_heads, mha.dropout)
        with torch.no_grad():
            for linear, weight, bias in zip((out.q, out.k, out.v), mha.in_proj_weight.chunk(3),
                                            mha.in_proj_bias.chunk(3)):
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            out.out_proj.load_state_dict(mha.out_proj.state_dict())
        return out

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = False,
                attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> tuple[torch.Tensor, None]:
        if key_padding_mask is not None or need_weights or (is_causal and attn_mask is None):
            raise ValueError("PrivateSelfAttention takes an explicit attn_mask and returns no weights")
        b, lq, d = query.shape
        h = self.num_heads

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(b, -1, h, d // h).transpose(1, 2)  # (B, heads, L, d / heads)

        q, k, v = heads(self.q(query)), heads(self.k(key)), heads(self.v(value))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(attn_mask.view(b, h, lq, -1), float("-inf"))
        elif attn_mask is not None:  # nn.TransformerEncoder hands its layers the mask as -inf / 0
            scores = scores + attn_mask.view(b, h, lq, -1)
        mixed = self.dropout(scores.softmax(-1)) @ v
        return self.out_proj(mixed.transpose(1, 2).reshape(b, lq, d)), None


class PrivateSequenceEncoder(SequenceEncoder):
    """:class:`SequenceEncoder` with :class:`PrivateSelfAttention` in every layer and position embeddings looked
    up per row: a per-sample hook needs the batch as the first dimension of every input it sees."""

    def __init__(self, dim: int, n_types: int, n_gap_buckets: int, max_len: int, layers: int, heads: int,
                 dropout: float) -> None:
        super().__init__(dim, n_types, n_gap_buckets, max_len, layers, heads, dropout)
        for layer in self.encoder.layers:
            layer.self_attn = PrivateSelfAttention.like(layer.self_attn)

    def _inputs(self, items: torch.Tensor, seq: torch.Tensor, types: torch.Tensor,
                gaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = seq.shape[1]
        pos = torch.arange(self.max_len - length, self.max_len, device=seq.device).expand_as(seq).contiguous()
        x = items * math.sqrt(self.dim) + self.type_emb(types) + self.gap_emb(gaps) + self.pos_emb(pos)
        x = self.dropout(x) * (seq > 0).unsqueeze(-1)
        return x, attention_mask(seq, self.heads)


class PrivateItemInputs(nn.Module):
    """Each position's item vector (B, L, d) from 1-based item ids (0 pads): the id embedding, plus the frozen
    text vector through a trained projection, plus the mean of the item's attribute embeddings."""

    def __init__(self, n_items: int, dim: int, text: torch.Tensor | None = None,
                 attrs: torch.Tensor | None = None, n_attrs: int = 0) -> None:
        super().__init__()
        self.item_id = small_embedding(n_items + 1, dim, padding_idx=0)
        self.text_proj = None
        if text is not None:  # (n_items + 1, T), frozen
            self.register_buffer("text", text.float())
            self.text_proj = nn.Linear(text.shape[1], dim, bias=False)
        self.attr_emb = None
        if attrs is not None and n_attrs:  # (n_items + 1, A) attribute ids, 0 = none
            self.register_buffer("attrs", attrs.long())
            self.attr_emb = small_embedding(n_attrs + 1, dim, padding_idx=0)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        x = self.item_id(seq)
        if self.text_proj is not None:
            x = x + self.text_proj(self.text[seq])
        if self.attr_emb is not None:
            tokens = self.attrs[seq]
            real = (tokens > 0).unsqueeze(-1)  # masked, not left to padding_idx: Opacus's per-user gradient
            #                                    of an embedding would count the padding row autograd leaves out
            x = x + (self.attr_emb(tokens) * real).sum(-2) / real.sum(-2).clamp(min=1)
        return x

    def table(self) -> torch.Tensor:
        """Every item's vector (n_items + 1, d), row 0 the padding item."""
        return self(torch.arange(self.item_id.num_embeddings, device=self.item_id.weight.device)[None])[0]


class PrivateSequenceNet(nn.Module):
    """Item vectors -> sequence encoder -> scoring head -> output layer: scores (..., n_items) of the next item."""

    def __init__(self, cfg: PipelineConfig, n_items: int, n_types: int, text: torch.Tensor | None,
                 attrs: torch.Tensor | None = None, n_attrs: int = 0) -> None:
        super().__init__()
        d = cfg.dim
        self.items = PrivateItemInputs(n_items, d, text, attrs, n_attrs)
        self.seq = PrivateSequenceEncoder(d, n_types, cfg.gap_buckets, cfg.max_len, cfg.seq_layers, cfg.seq_heads,
                                          cfg.dropout)
        self.head = ScoringHead(d, cfg.dropout)
        self.out = nn.Linear(d, n_items)
        with torch.no_grad():  # the pipeline scores against its input table: start from a copy of it
            self.out.weight.copy_(self.items.table()[1:])
            self.out.bias.zero_()

    def forward(self, seq: torch.Tensor, types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """Scores (B, L, n_items) at every position of left-padded windows (B, L)."""
        return self.out(self.head(self.seq(self.items(seq), seq, types, gaps)))

    def last_scores(self, seq: torch.Tensor, types: torch.Tensor, gaps: torch.Tensor) -> torch.Tensor:
        """Scores (B, n_items) after each window's last event."""
        return self.out(self.head(self.seq.last_state(self.items(seq), seq, types, gaps)))
