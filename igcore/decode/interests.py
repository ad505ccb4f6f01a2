"""Stage 4, decode: a user's interests as K vectors extracted from the encoded behaviour sequence.

In the manner of ComiRec's self-attentive extractor (Cen et al. 2020): each interest slot k scores every position
of the sequence, a softmax over the positions up to t pools the hidden states into slot k's vector at t, and
every position is routed to the slots by a softmax over k. Pooling is causal, so each training position has the
interests its user had before its target, like the sequence state itself.

An item's score is the sequence query's score plus that of the user's best-matching interest
(:meth:`InterestExtractor.scores`): the interest that produced a recommendation is the one that maximised it,
and the dashboard explains exactly the score that ranks. Training selects, for each target, the interest that
matches it best (ComiRec's training rule), so one forward pass costs one catalogue-wide product, as without
interests.

A slot's weight at t is the share of the user's recent behaviour routed to it: the routing shares of the
positions up to t, averaged with weights that halve every ``half_life`` events back.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class InterestExtractor(nn.Module):
    def __init__(self, dim: int, k: int, half_life: float = 8.0) -> None:
        super().__init__()
        self.k = k
        self.attend = nn.Sequential(nn.Linear(dim, 4 * k), nn.Tanh(), nn.Linear(4 * k, k))
        self.decay = math.log(2.0) / half_life

    def forward(self, hidden: torch.Tensor, real: torch.Tensor,
                last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Interest vectors (B, L, K, d) and weights (B, L, K) at every position of left-padded hidden states
        (B, L, d); ``real`` (B, L) marks the positions that hold events. A padded position's interests are
        those of its own (zero) state: it is never read. ``last``: at the last position only (L = 1 in the
        output), what serving needs, without the work for every earlier one."""
        b, length, _ = hidden.shape
        logits = self.attend(hidden)  # (B, L, K): how much each slot attends to each position
        steps = torch.arange(length, device=hidden.device)
        targets = steps[-1:] if last else steps
        visible = (steps[None, :] <= targets[:, None])[None] & real[:, None, :]  # (B, L_t, L_s)
        visible = visible | (targets[:, None] == steps[None, :])[None]
        scores = logits.transpose(1, 2)[:, :, None, :].masked_fill(~visible[:, None], float("-inf"))
        pooled = torch.softmax(scores, dim=-1) @ hidden[:, None]  # (B, K, L_t, d)
        routes = self._routes(logits, real)
        recency = torch.exp(-self.decay * (targets[:, None] - steps[None, :]).clamp(min=0).float())
        recency = recency * visible  # (B, L_t, L_s)
        weights = recency @ routes / (recency @ real[..., None].float()).clamp(min=1e-9)
        return pooled.transpose(1, 2), weights

    def routes(self, hidden: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Each event's share per slot (B, L, K), zero at padded positions: the routing behind the weights."""
        return self._routes(self.attend(hidden), real)

    @staticmethod
    def _routes(logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1) * real[..., None]

    @staticmethod
    def overlap(vectors: torch.Tensor) -> torch.Tensor:
        """Mean squared cosine between the distinct slots of each row of interest vectors (P, K, d): 0 when
        every slot points elsewhere, 1 when all coincide. Penalised, it keeps slots from collapsing onto one
        interest."""
        unit = nn.functional.normalize(vectors, dim=-1)
        cos = unit @ unit.transpose(-1, -2)  # (P, K, K)
        k = vectors.shape[-2]
        return ((cos ** 2).sum((-1, -2)) - k).mean() / max(k * (k - 1), 1)

    @staticmethod
    def best_for(queries: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Of interest queries (P, K, d), the one each target vector (P, d) matches best: (P, d)."""
        pick = torch.einsum("pkd,pd->pk", queries, targets).argmax(-1)
        return queries[torch.arange(len(queries), device=queries.device), pick]

    @staticmethod
    def scores(query: torch.Tensor, interests: torch.Tensor | None, items: torch.Tensor) -> torch.Tensor:
        """(n, n_items) scores: the sequence query's (n, d) plus, with interest queries (n, K, d), the best
        interest's for each item (the item table's padding row 0 left out)."""
        out = query @ items[1:].T
        if interests is not None:
            out = out + torch.einsum("nkd,md->nkm", interests, items[1:]).amax(1)
        return out

    @staticmethod
    def producing(interests: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Which interest (n, m) produced each item's score: the argmax of :meth:`scores` over K, for item
        vectors (m, d) or per-row item vectors (n, m, d)."""
        if items.dim() == 2:
            return torch.einsum("nkd,md->nkm", interests, items).argmax(1)
        return torch.einsum("nkd,nmd->nkm", interests, items).argmax(1)
