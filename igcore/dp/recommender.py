"""The pipeline's sequence path trained with user-level DP-SGD, as a :class:`Recommender` (registry row
``igcore-dp``; ``--set dp_epsilon=1`` and the other ``dp_*`` settings pick the guarantee).

What is trained privately: every weight of :class:`igcore.dp.seqnet.PrivateSequenceNet` (item id, attribute
and text-projection embeddings, the sequence transformer, the scoring head, the output layer). What is frozen:
the pretrained text encoder, which never runs here; its item vectors are computed from the public catalogue,
not from users' events, and enter as a buffer. The graph, the TGN memory and interest extraction are off
(``use_graph=False, use_temporal=False, interests=0``): this is the pipeline's sequence path.

The guarantee is (epsilon, delta)-DP with respect to adding or removing one user's whole training history
(:mod:`igcore.dp.sgd`). Three choices keep it honest:

- no validation: the pipeline picks its epoch on validation events, users' data the accountant does not see,
  so the private model trains its planned steps (``dp_epochs`` passes over the users) and keeps the last
  weights; ``valid`` is ignored;
- the time cap (``max_train_s``) stops early and the reported epsilon is what the steps taken spent (at most
  the target);
- settings (learning rate, clipping norm, batch size, epochs) are fixed in advance, not tuned per epsilon.

Scoring reads each user's own recent events through the trained network, as the pipeline does; the guarantee
covers the weights, i.e. what one user's recommendations reveal about other users. The noise comes from a
seeded torch generator, so runs are reproducible; Opacus's ``secure_mode`` (noise robust to floating-point
attacks) is not used.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from torch import nn

from igcore.dp.seqnet import PrivateSequenceNet
from igcore.dp.sgd import (
    ACCOUNTANTS,
    PrivacySpend,
    PrivateOptimizer,
    length_pieces,
    noise_multiplier,
    poisson_rows,
    spent_epsilon,
)
from igcore.encode.item_encoder import attr_matrix, text_matrix
from igcore.encode.side import SideInfo
from igcore.errors import IgcoreError
from igcore.events import Interactions
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.training import SeededModel
from igcore.pipeline.windows import WindowBatch, Windows, training_windows, windows
from igcore.ranking import top_k
from igcore.update.online import OnlineState


@dataclasses.dataclass(frozen=True)
class PrivateConfig(PipelineConfig):
    """The pipeline's settings with its sequence path alone, and the privacy settings."""

    use_graph: bool = False
    use_temporal: bool = False
    interests: int = 0
    lr: float = 1e-2  # private steps are few and noisy: a larger step than the pipeline's
    dp_epsilon: float = 4.0  # target epsilon of the planned steps; inf: the same training without clipping or noise
    dp_delta: float = 0.0  # 0: 1 / the number of training users
    dp_clip: float = 0.1  # bound on each user's gradient norm in every step
    dp_epochs: float = 10.0  # planned passes over the users: ceil(dp_epochs / sample rate) steps
    dp_accountant: str = "rdp"  # rdp | prv (Opacus's accountants)
    dp_max_positions: int = 4096  # padded positions per piece of a step: memory and speed, not privacy

    def __post_init__(self) -> None:
        if self.use_graph or self.use_temporal or self.interests:
            raise IgcoreError("igcore-dp trains the sequence path alone: use_graph, use_temporal and interests "
                              "must stay off")
        if not self.dp_epsilon > 0 or not self.dp_clip > 0 or not self.dp_epochs > 0 or self.dp_delta < 0:
            raise IgcoreError("dp_epsilon, dp_clip and dp_epochs must be positive and dp_delta not negative")
        if self.dp_accountant not in ACCOUNTANTS:
            raise IgcoreError(f"dp_accountant must be one of {', '.join(ACCOUNTANTS)}, not {self.dp_accountant!r}")

    def name(self) -> str:
        return "igcore-dp"


def user_losses(net: nn.Module, batch: WindowBatch) -> torch.Tensor:
    """Each row's (user's) mean next-item cross-entropy over its real positions, (n,): the unit whose gradient
    is clipped. Every training row has at least one target."""
    logits = net(batch.items, batch.types, batch.gaps)
    real = batch.targets > 0
    ce = nn.functional.cross_entropy(logits.flatten(0, 1), (batch.targets - 1).clamp(min=0).flatten(),
                                     reduction="none").view_as(real)
    return (ce * real).sum(1) / real.sum(1)


def train_private(net: nn.Module, rows: Windows, cfg: PrivateConfig, rng: np.random.Generator, log: list[dict],
                  device: torch.device | str) -> PrivacySpend:
    """Train ``net`` on ``rows`` (one per user) for the planned Poisson-sampled steps, or until ``max_train_s``;
    append one log entry per pass over the users. Returns what the training spent."""
    n = len(rows.users)
    rate = min(1.0, cfg.batch_size / n)
    planned = math.ceil(cfg.dp_epochs / rate)
    delta = cfg.dp_delta or 1.0 / n
    noise = noise_multiplier(cfg.dp_epsilon, delta, rate, planned, cfg.dp_accountant)
    inner = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    private = None
    if not math.isinf(cfg.dp_epsilon):
        generator = torch.Generator(device=device).manual_seed(cfg.seed)
        private = PrivateOptimizer(net, inner, noise, cfg.dp_clip, rate, cfg.batch_size, cfg.dp_accountant,
                                   generator)
    per_pass, t0 = max(1, round(1 / rate)), time.perf_counter()
    losses, positions, step = [], 0, 0
    net.train()
    while step < planned:
        step += 1
        sample = poisson_rows(n, rate, rng)
        pieces = length_pieces(sample, rows.lengths, cfg.dp_max_positions)
        if private is not None:
            loss = private.step(pieces, lambda module, piece: user_losses(module, rows.batch(piece, device)))
        else:
            loss = _plain_step(net, inner, rows, pieces, len(sample), device)
        losses.append(loss)
        positions += int(rows.lengths[sample].sum())
        out_of_time = time.perf_counter() - t0 > cfg.max_train_s
        if step % per_pass == 0 or step == planned or out_of_time:
            entry = {"epoch": len(log) + 1, "loss": float(np.mean(losses)), "s": round(time.perf_counter() - t0, 2),
                     "positions": positions, "steps": step}
            if out_of_time and step < planned:
                entry["capped"] = True
            log.append(entry)
            losses, positions = [], 0
        if out_of_time:
            break
    if private is not None:
        private.close()
    net.eval()
    return PrivacySpend(spent_epsilon(noise, rate, step, delta, cfg.dp_accountant), delta, cfg.dp_epsilon, noise,
                        cfg.dp_clip, rate, step, planned, n, cfg.dp_accountant)


def _plain_step(net: nn.Module, inner: torch.optim.Optimizer, rows: Windows, pieces: list[np.ndarray],
                sampled: int, device: torch.device | str) -> float:
    """A non-private step on the same sample: the mean user loss, no clipping, no noise."""
    inner.zero_grad(set_to_none=True)
    total = 0.0
    for piece in pieces:
        loss = user_losses(net, rows.batch(piece, device)).sum()
        (loss / sampled).backward()
        total += float(loss.detach())
    if pieces:
        inner.step()
    return total / max(sampled, 1)


class PrivateSequenceRecommender(SeededModel):
    """:class:`Recommender` over :class:`PrivateSequenceNet`; ``privacy`` holds the spend of the last fit."""

    name = "igcore-dp"
    config_class = PrivateConfig

    def __init__(self, config: PrivateConfig | None = None, side: SideInfo | None = None, **overrides) -> None:
        super().__init__(config, **overrides)
        self.side = side or SideInfo()
        self.privacy: dict | None = None

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        """Train privately on ``train``; ``valid`` is not read (see the module's docstring)."""
        cfg = self.cfg
        rng = self._seed()
        text = text_matrix(self.side, train.item_ids) if cfg.use_text else None
        self.n_items = train.n_items
        self.net = PrivateSequenceNet(cfg, train.n_items, max(len(train.type_names), 1), text,
                                      *attr_matrix(self.side, train.item_ids)).to(self.device)
        self.state = OnlineState(train.n_users, None, cfg.memory_batch)
        self.state.set_histories(train)
        rows = training_windows(train, cfg.max_len, cfg.gap_buckets)
        self.log = []
        self.privacy = train_private(self.net, rows, cfg, rng, self.log, self.device).as_dict()

    def update(self, events: Interactions) -> None:
        self.state.histories.append(events)

    @torch.no_grad()
    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        self.net.eval()
        users = np.asarray(users)
        out = np.empty((len(users), self.n_items), dtype=np.float32)
        for start in range(0, len(users), 512):
            chunk = users[start:start + 512].tolist()
            b = windows(self.state, chunk, self.cfg.max_len, self.cfg.gap_buckets).batch(slice(None), self.device)
            out[start:start + len(chunk)] = self.net.last_scores(b.items, b.types, b.gaps).float().cpu().numpy()
        return out

    def recommend(self, user: int, k: int = 10, at: int | None = None) -> np.ndarray:
        return top_k(self.score(np.array([user]), at), k)[0]
