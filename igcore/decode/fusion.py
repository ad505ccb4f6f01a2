"""A gated sum of the user's sources: the behaviour-sequence state, the graph vector and the TGN memory.

The gate reads all sources and gives each a weight per user (a softmax), so the weights say how much each
source shapes that user's interest; they are reported beside recommendations, in the order of
:func:`igcore.decode.sources.source_names`.
"""

from __future__ import annotations

import torch
from torch import nn


class SourceFusion(nn.Module):
    def __init__(self, dim: int, memory_dim: int, use_graph: bool, use_temporal: bool,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.use_graph = use_graph
        # dropout on the graph and memory sources in training, as the sequence encoder has on its own input:
        # without it they are the one undropped route to the score, the easiest for training to fit
        self.drop = nn.Dropout(dropout)
        self.mem_proj = nn.Linear(memory_dim, dim) if use_temporal else None
        self.n_sources = 1 + int(use_graph) + int(use_temporal)
        self.gate = nn.Linear(self.n_sources * dim, self.n_sources)
        with torch.no_grad():  # start from the sequence state: the other sources then have to earn their weight
            self.gate.bias.zero_()
            self.gate.bias[0] = 3.0

    def forward(self, seq_state: torch.Tensor, graph_user: torch.Tensor | None,
                memory: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Interest vectors (..., d) and gate weights (..., n_sources) from sources of shape (..., d) (memory:
        (..., memory_dim)). A missing source counts as zeros."""
        sources = [seq_state]
        if self.use_graph:
            sources.append(self.drop(graph_user) if graph_user is not None else torch.zeros_like(seq_state))
        if self.mem_proj is not None:
            sources.append(self.mem_proj(self.drop(memory)) if memory is not None else torch.zeros_like(seq_state))
        stacked = torch.stack(sources, dim=-2)  # (..., S, d)
        weights = torch.softmax(self.gate(stacked.flatten(-2)), dim=-1)
        return (weights.unsqueeze(-1) * stacked).sum(-2), weights
