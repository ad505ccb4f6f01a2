"""BSARec: each layer mixes a learned low/high-frequency filter with self-attention (Shin et al., "An Attentive
Inductive Bias for Sequential Recommendation beyond the Self-Attention", AAAI 2024), trained with our
full-softmax next-item cross-entropy and early stopping (``igcore.pipeline.training``), like SASRec.

A layer: (a) the "dual" frequency filter: the sequence's real FFT (``norm='ortho'``), its lowest frequencies kept
as the low-pass part, high-pass = input - low-pass, output = low-pass + beta * high-pass with a learned
per-dimension beta = sqrt_beta ** 2 (never negative), then dropout, residual and LayerNorm; (b) causal
multi-head self-attention (dropout, residual, LayerNorm); the layer's state is alpha * (a) + (1 - alpha) * (b),
then a GELU feed-forward block (4 x dim wide, dropout, residual, LayerNorm). Embeddings are item + position,
LayerNorm, dropout; weights start at N(0, 0.02). All of it follows the authors' public code
(github.com/yehjin-shin/BSARec, ``src/model/_modules.py``: FrequencyLayer, BSARecLayer, FeedForward;
``src/model/_abstract_model.py``: embeddings, initialisation).

Which frequencies are "the lowest c": the authors keep ``c // 2 + 1`` bins of the one-sided (rfft) spectrum,
i.e. for odd c the constant term and (c - 1) / 2 frequencies with their negative mirrors, c frequencies of the
two-sided spectrum. We do the same, so c = 1 keeps only the mean and c = 5 keeps three rfft bins.

Hyper-parameters (``BSARecConfig``), each from the authors' repository:
- alpha 0.7, c 5, one attention head, lr 5e-4: the README's "Example for Beauty" command (``--lr 0.0005
  --alpha 0.7 --c 5 --num_attention_heads 1``); the same values are in the argument line of their published
  Beauty run log (``src/output/BSARec_Beauty_best.log``).
- dim 64, 2 layers, max_len 50, hidden and attention dropout 0.5, batch 256, Adam without weight decay,
  GELU: ``parse_args`` defaults in ``src/utils.py`` (``hidden_size``, ``num_hidden_layers``,
  ``max_seq_length``, ``hidden_dropout_prob``, ``attention_probs_dropout_prob``, ``batch_size``,
  ``weight_decay``, ``hidden_act``), unchanged by the Beauty command and repeated in that log.
- epochs, evaluation cadence, patience and the time cap are ours (``TrainSettings``), so every sequence model
  in the harness stops by the same rule.

Training samples. The filter is not causal: every position sees the whole sequence, later items included. So,
as in the authors' ``src/dataset.py``, each training target gets its own sample, the prefix before it, and the
loss is taken at the prefix's last position only (an all-positions loss would let the filter read the targets):
SASRec's ``samples="prefixes"``, its default, which BSARec requires. The targets are SASRec's (the last
``max_len + 1`` items of each history, from the second on), so the two models see the same supervision.

Padding and batch width. Sequences are left-padded and batches are cut to their longest member, as for SASRec.
The FFT is nevertheless always taken over ``max_len`` positions, with the padded positions set to zero: the
input of width w is zero-extended to ``max_len`` and, since a frequency mask commutes with a circular shift, the
first w outputs of the right-extended sequence equal the last w outputs of the left-padded one. Padded positions
are zeroed before every layer and are hidden from attention as keys, so a user's hidden states do not depend on
the batch width, that is, on which other users share the batch (a test checks this). This is a choice of ours:
the authors pad every sequence to ``max_len`` and leave the padded positions' position embeddings (after
LayerNorm) in the FFT, so their filter also mixes padding into the real positions; zero padding keeps the
filter a function of the user's items alone and lets short sequences train at their own width.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from igcore.encode.frequency import SpectralMix
from igcore.encode.sequence import attention_mask
from igcore.errors import IgcoreError
from igcore.evaluate.sasrec import SASRec, SASRecConfig

LAYER_NORM_EPS = 1e-12  # the authors' TF-style LayerNorm


@dataclasses.dataclass(frozen=True)
class BSARecConfig(SASRecConfig):
    dim: int = 64
    layers: int = 2
    heads: int = 1
    max_len: int = 50
    dropout: float = 0.5  # embeddings, filter, attention output and feed-forward
    attention_dropout: float = 0.5  # on the attention weights
    alpha: float = 0.7  # weight of the filter against self-attention
    c: int = 5  # frequencies kept as the low-pass part (c // 2 + 1 rfft bins)
    lr: float = 5e-4


class FrequencyFilter(nn.Module):
    """The dual frequency filter: the spectral mix (low-pass + beta * high-pass), then dropout, residual and
    LayerNorm."""

    def __init__(self, dim: int, c: int, max_len: int, dropout: float) -> None:
        super().__init__()
        self.spectrum = SpectralMix(dim, c, max_len)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.dropout(self.spectrum(x)) + x)


class BSARecLayer(nn.Module):
    """alpha * filter + (1 - alpha) * self-attention, then the feed-forward block; post-LayerNorm throughout."""

    def __init__(self, cfg: BSARecConfig) -> None:
        super().__init__()
        self.alpha = cfg.alpha
        self.filter = FrequencyFilter(cfg.dim, cfg.c, cfg.max_len, cfg.dropout)
        self.attention = nn.MultiheadAttention(cfg.dim, cfg.heads, dropout=cfg.attention_dropout, batch_first=True)
        self.attention_out = nn.Dropout(cfg.dropout)
        self.attention_norm = nn.LayerNorm(cfg.dim, eps=LAYER_NORM_EPS)
        self.feed_forward = nn.Sequential(nn.Linear(cfg.dim, 4 * cfg.dim), nn.GELU(), nn.Linear(4 * cfg.dim, cfg.dim),
                                          nn.Dropout(cfg.dropout))
        self.feed_forward_norm = nn.LayerNorm(cfg.dim, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(x, x, x, attn_mask=mask, need_weights=False)
        attended = self.attention_norm(self.attention_out(attended) + x)
        mixed = self.alpha * self.filter(x) + (1 - self.alpha) * attended
        return self.feed_forward_norm(self.feed_forward(mixed) + mixed)


class BSARecNet(nn.Module):
    """Item + position embeddings and ``layers`` BSARec layers; scores are dot products with the item table."""

    def __init__(self, n_items: int, cfg: BSARecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_emb = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)  # index 0 = padding
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.dim)
        self.emb_norm = nn.LayerNorm(cfg.dim, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(BSARecLayer(cfg) for _ in range(cfg.layers))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.MultiheadAttention):  # its q/k/v projection is one bare parameter
            nn.init.normal_(module.in_proj_weight, std=0.02)
            nn.init.zeros_(module.in_proj_bias)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, dim) for left-padded item sequences (B, L) of 1-based item ids; padded
        positions are zero."""
        length = seq.shape[1]
        real = (seq > 0).unsqueeze(-1)
        pos = torch.arange(self.cfg.max_len - length, self.cfg.max_len, device=seq.device)
        x = self.dropout(self.emb_norm(self.item_emb(seq) + self.pos_emb(pos)[None])) * real
        mask = attention_mask(seq, self.cfg.heads)
        for layer in self.layers:
            x = layer(x, mask) * real
        return x

    def item_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.item_emb.weight[1:].T


class BSARec(SASRec):
    """SASRec's recommender (histories, online update, scoring at the last position, one prefix per target)
    with the BSARec network; prefixes only (see the module docstring: the filter sees the whole input)."""

    name = "BSARec"
    config_class = BSARecConfig

    def __init__(self, config: BSARecConfig | None = None, **overrides) -> None:
        super().__init__(config, **overrides)
        if self.cfg.samples != "prefixes":
            raise IgcoreError("BSARec trains on prefixes only (samples=prefixes): its frequency filter sees the "
                              "whole input")

    def _network(self) -> nn.Module:
        return BSARecNet(self.n_items, self.cfg)
