"""Stage 1, encode: the behaviour-sequence transformer over a user's recent events.

Each position sums the item's vector (from :mod:`igcore.encode.item_encoder`), the event type, a bucket of the
time since the previous event and the position; a causal pre-norm transformer turns that into hidden states
whose last column is what the model knows of the user after their latest event. Sequences are left-padded and
1-based (0 pads).

The token mixer of each layer is self-attention (``mixer="attention"``), or, as BSARec's layers mix,
``alpha`` times the spectral mix of :mod:`igcore.encode.frequency` plus ``1 - alpha`` times self-attention
(``mixer="frequency"``). The spectral mix reads the whole window, later positions included: an encoder with it
trains on prefixes only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from igcore.encode.frequency import SpectralMix

MIXERS = ("attention", "frequency")  # each layer's token mixer (the module docstring)


def small_embedding(n: int, d: int, padding_idx: int | None = None) -> nn.Embedding:
    """An embedding table drawn small (std 0.02, as SASRec's), its padding row zero. Every table summed into a
    sequence input is drawn this way: with torch's default (std 1) position, event type and time gap would
    outweigh the item (0.02 x sqrt(dim)) several times over, and the model would first have to learn to hear
    the item through them."""
    emb = nn.Embedding(n, d, padding_idx=padding_idx)
    nn.init.normal_(emb.weight, std=0.02)
    if padding_idx is not None:
        with torch.no_grad():
            emb.weight[padding_idx].zero_()
    return emb


def gap_buckets(times: list[int], buckets: int) -> np.ndarray:
    """Bucket of the time since the previous event: 1 + log2(1 + seconds) / 2, capped; the first event of a
    history (no previous one) gets the last bucket."""
    out = np.full(len(times), buckets, dtype=np.int64)
    if len(times) > 1:
        gaps = np.maximum(np.diff(np.asarray(times, dtype=np.float64)), 0.0)
        out[1:] = 1 + np.minimum(buckets - 2, (np.log2(1.0 + gaps) / 2).astype(np.int64))
    return out


def attention_mask(seq: torch.Tensor, heads: int) -> torch.Tensor:
    """(B * heads, L, L) boolean mask of left-padded sequences (B, L), True = hidden: causal, and no padded key
    (each position may always see itself, so a fully padded row stays finite)."""
    length = seq.shape[1]
    causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=seq.device), 1)
    pad_key = (seq == 0)[:, None, :] & ~torch.eye(length, dtype=torch.bool, device=seq.device)[None]
    return (causal[None] | pad_key).repeat_interleave(heads, dim=0)


class SequenceEncoder(nn.Module):
    """Transformer over (item, event type, time gap, position) inputs; causal with the attention mixer."""

    def __init__(self, dim: int, n_types: int, n_gap_buckets: int, max_len: int, layers: int, heads: int,
                 dropout: float, mixer: str = "attention", alpha: float = 0.7, c: int = 5) -> None:
        super().__init__()
        if mixer not in MIXERS:
            raise ValueError(f"mixer must be one of {', '.join(MIXERS)}, not {mixer!r}")
        self.dim, self.max_len, self.heads = dim, max_len, heads
        self.type_emb = small_embedding(n_types + 1, dim, padding_idx=0)
        self.gap_emb = small_embedding(n_gap_buckets + 1, dim, padding_idx=0)
        self.pos_emb = small_embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=dim, dropout=dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.alpha = alpha
        self.spectra = (nn.ModuleList(SpectralMix(dim, c, max_len) for _ in range(layers))
                        if mixer == "frequency" else None)

    @property
    def causal(self) -> bool:
        """Whether a position's state reads only its own and earlier positions (the attention mixer)."""
        return self.spectra is None

    def forward(self, items: torch.Tensor, seq: torch.Tensor, types: torch.Tensor,
                gaps: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, d) of left-padded sequences; the last column is the latest event. ``items`` is
        the item table (n_items + 1, d), or each position's own item vector (B, L, d)."""
        x, mask = self._inputs(items, seq, types, gaps)
        if self.spectra is None:
            return self.norm(self.encoder(x, mask=mask))
        real = (seq > 0).unsqueeze(-1)
        for layer, spectrum in zip(self.encoder.layers, self.spectra, strict=True):
            h = layer.norm1(x) * real  # padded positions zero, as the spectral mix reads them
            mixed = (1 - self.alpha) * layer._sa_block(h, mask, None) + self.alpha * layer.dropout1(spectrum(h))
            x = x + mixed
            x = x + layer._ff_block(layer.norm2(x))
        return self.norm(x)

    def last_state(self, items: torch.Tensor, seq: torch.Tensor, types: torch.Tensor,
                   gaps: torch.Tensor) -> torch.Tensor:
        """``forward(...)[:, -1]`` (to float rounding), (B, d), for scoring: the last position of a causal
        encoder needs every position's keys but no other query, so the top layer runs attention and
        feed-forward for the last query alone. In training mode, where every position has a target, it is the
        plain slice, as it is for a mixer that is not causal."""
        top = self.encoder.layers[-1]
        if self.training or not top.norm_first or not self.causal:
            return self(items, seq, types, gaps)[:, -1]
        x, mask = self._inputs(items, seq, types, gaps)
        for layer in self.encoder.layers[:-1]:
            x = layer(x, src_mask=mask)
        h = top.norm1(x)
        x = x[:, -1:] + top.self_attn(h[:, -1:], h, h, attn_mask=mask[:, -1:], need_weights=False)[0]
        x = x + top.linear2(top.activation(top.linear1(top.norm2(x))))
        return self.norm(x)[:, 0]

    def _inputs(self, items: torch.Tensor, seq: torch.Tensor, types: torch.Tensor,
                gaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The summed input embeddings (B, L, d) and the attention mask (:func:`attention_mask`)."""
        length = seq.shape[1]
        pos = torch.arange(self.max_len - length, self.max_len, device=seq.device)
        vectors = items if items.dim() == 3 else items[seq]
        x = vectors * math.sqrt(self.dim) + self.type_emb(types) + self.gap_emb(gaps) + self.pos_emb(pos)[None]
        x = self.dropout(x) * (seq > 0).unsqueeze(-1)
        return x, attention_mask(seq, self.heads)
