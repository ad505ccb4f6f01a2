"""The scoring head: the interest state becomes the query every item of the catalogue is scored against."""

from __future__ import annotations

import torch
from torch import nn


class ScoringHead(nn.Module):
    """Two layers with a residual connection; a score is the dot product of the query and the item vector."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, interest: torch.Tensor) -> torch.Tensor:
        """The query vector (..., d)."""
        return interest + self.mlp(interest)

    @staticmethod
    def scores(query: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(n, n_items) scores against the item table (row 0, padding, left out)."""
        return query @ items[1:].T
