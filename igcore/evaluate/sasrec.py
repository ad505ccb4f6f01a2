"""SASRec: a causal transformer over each user's recent items, trained with full-softmax next-item
cross-entropy over the whole catalogue (Kang & McAuley 2018; the loss of Klenitskiy & Vasilev, RecSys 2023).

Sequences are left-padded, so the last item always sits at the last position (positions count back from the
end). Training batches group sequences of similar length and are cut to their longest member, and the loss is
computed only at real positions (gathered before the output layer): on short-sequence data such as Beauty this
makes an epoch several times cheaper than padding everything to ``max_len``.

Training samples (``samples``): ``"prefixes"``, one sample per training target, the items before it, with the
loss at the sample's last position, as the S3-Rec and BSARec authors' trainers build them; or ``"positions"``,
each user's window once with a target at every position, as Kang & McAuley's. The targets are the same; with
prefixes a batch holds a batch size of targets rather than of users, so an epoch takes several times more (and
costlier) steps, every target is predicted from the last position, where scoring reads the user, and the
validation figure rises well above what positions reach (``bench/sasrec_grid.py`` logs both).
Early stopping on validation NDCG@10 (every ``eval_every`` epochs, ``patience`` checks), within ``max_train_s``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from igcore.config import TrainSettings
from igcore.encode.sequence import attention_mask
from igcore.errors import IgcoreError
from igcore.events import Interactions
from igcore.pipeline.samples import SAMPLES
from igcore.pipeline.training import SeededModel, fit_with_early_stopping, length_batches, validation_ndcg
from igcore.ranking import top_k


@dataclasses.dataclass(frozen=True)
class SASRecConfig(TrainSettings):
    dim: int = 128
    layers: int = 2
    heads: int = 1
    max_len: int = 50
    dropout: float = 0.5
    weight_decay: float = 0.0
    samples: str = "prefixes"  # or "positions" (see the module docstring)


class SASRecNet(nn.Module):
    def __init__(self, n_items: int, cfg: SASRecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.item_emb = nn.Embedding(n_items + 1, cfg.dim, padding_idx=0)  # index 0 = padding
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.dim)
        layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, dim_feedforward=cfg.dim, dropout=cfg.dropout,
                                           batch_first=True, norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.dropout = nn.Dropout(cfg.dropout)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, dim) for left-padded item sequences (B, L) of 1-based item ids."""
        b, length = seq.shape
        pos = torch.arange(self.cfg.max_len - length, self.cfg.max_len, device=seq.device)
        x = self.embed(seq) * math.sqrt(self.cfg.dim) + self.pos_emb(pos)[None]
        x = self.dropout(x)
        return self.norm(self.encoder(x, mask=attention_mask(seq, self.cfg.heads)))

    def embed(self, seq: torch.Tensor) -> torch.Tensor:
        """Item vectors of 1-based ids (0 pads); a variant with side information overrides this and
        ``item_table``."""
        return self.item_emb(seq)

    def item_table(self) -> torch.Tensor:
        """(n_items + 1, dim): every item's vector, row 0 the padding item; the output layer's weights."""
        return self.item_emb.weight

    def item_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.item_table()[1:].T


class SASRec(SeededModel):
    name = "SASRec"
    config_class = SASRecConfig

    def __init__(self, config: SASRecConfig | None = None, **overrides) -> None:
        super().__init__(config, **overrides)
        if self.cfg.samples not in SAMPLES:  # refused before any training starts
            raise IgcoreError(f"samples must be one of {', '.join(SAMPLES)}, not {self.cfg.samples!r}")

    # --- Recommender protocol -------------------------------------------------------------------------
    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        cfg = self.cfg
        rng = self._seed()
        self.n_items = train.n_items
        self.histories = [s.tolist() for s in train.sequences()]
        self.net = self._network().to(self.device)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        inputs, targets = self._training_windows()
        lengths = (inputs > 0).sum(axis=1)

        def run_epoch(epoch: int) -> float:
            total = 0.0
            for idx in length_batches(lengths, cfg.batch_size, rng):
                width = int(lengths[idx].max())
                seq = torch.as_tensor(inputs[idx, -width:], device=self.device)
                tgt = torch.as_tensor(targets[idx, -width:], device=self.device)
                real = tgt > 0
                hidden = self.net(seq)[real]
                loss = nn.functional.cross_entropy(self.net.item_logits(hidden), tgt[real] - 1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            return total / len(inputs)

        validate = None
        if valid is not None and len(valid):
            validate = lambda: validation_ndcg(self.score, self.histories, valid.user, valid.item,  # noqa: E731
                                               cfg.valid_exclude_seen, self.n_items)
        fit_with_early_stopping(self.net, run_epoch, validate, cfg.epochs, cfg.eval_every, cfg.patience,
                                cfg.max_train_s, self.log, positions=int((targets > 0).sum()))

    def update(self, events: Interactions) -> None:
        for u, i in zip(events.user.tolist(), events.item.tolist()):
            self.histories[u].append(i)

    @torch.no_grad()
    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        self.net.eval()
        out = np.empty((len(users), self.n_items), dtype=np.float32)
        for start in range(0, len(users), 512):
            chunk = users[start:start + 512]
            seq = self._pad([self.histories[u] for u in chunk.tolist()])
            width = max(int((seq > 0).sum(axis=1).max()), 1)
            hidden = self.net(torch.as_tensor(seq[:, -width:], device=self.device))[:, -1]
            out[start:start + len(chunk)] = self.net.item_logits(hidden).float().cpu().numpy()
        return out

    def recommend(self, user: int, k: int = 10, at: int | None = None) -> np.ndarray:
        return top_k(self.score(np.array([user]), at), k)[0]

    # --- helpers ---------------------------------------------------------------------------------------
    def _network(self) -> nn.Module:
        """A fresh network for ``fit`` (a variant swaps it: BSARec's layers, SASRecF's item encoder)."""
        return SASRecNet(self.n_items, self.cfg)

    def _pad(self, seqs: list[list[int]]) -> np.ndarray:
        """Left-padded 1-based ids of the last ``max_len`` items."""
        length = self.cfg.max_len
        out = np.zeros((len(seqs), length), dtype=np.int64)
        for r, seq in enumerate(seqs):
            tail = seq[-length:]
            if tail:
                out[r, length - len(tail):] = np.asarray(tail) + 1
        return out

    def _training_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets), left-padded 1-based arrays of one shape; the loss is taken where a target is set.
        Positions: per user with >= 2 items, input = items[:-1], target = items[1:] (the last max_len). Prefixes:
        one row per such target, the items before it, its target at the last position only."""
        if self.cfg.samples == "prefixes":
            inputs, targets = self._prefix_samples()
            at_last = np.zeros_like(inputs)
            at_last[:, -1] = targets + 1
            return inputs, at_last
        seqs = [h[-(self.cfg.max_len + 1):] for h in self.histories if len(h) >= 2]
        return self._pad([s[:-1] for s in seqs]), self._pad([s[1:] for s in seqs])

    def _prefix_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """One sample per target: (left-padded 1-based ids of the items before it, its 0-based item index).
        Targets are the last ``max_len`` items of each history's last ``max_len + 1`` (the positions' targets)."""
        windows = [h[-(self.cfg.max_len + 1):] for h in self.histories if len(h) >= 2]
        prefixes = [w[:k] for w in windows for k in range(1, len(w))]
        targets = np.array([w[k] for w in windows for k in range(1, len(w))], dtype=np.int64)
        return self._pad(prefixes), targets
