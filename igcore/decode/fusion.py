"""A gated sum of the user's sources: the behaviour-sequence state, the graph vector and the TGN memory.

The gate reads all sources and gives each a weight per user (a softmax), so the weights say how much each
source shapes that user's interest; they are reported beside recommendations, in the order of
:func:`igcore.decode.sources.source_names`.
"""

from __future__ import annotations

import torch
from torch import nn

from igcore.errors import IgcoreError

FUSIONS = ("softmax", "residual")


class SourceFusion(nn.Module):
    """``softmax``: the sources' weighted mean, weights from a softmax over them (they compete with the sequence
    state). ``residual``: the sequence state plus each other source, layer-normalised (no learned scale, so a
    missing source's zeros stay zeros, and a GNN's large sums cannot swamp the sum), times a sigmoid gate of
    its own: a source adds what it knows without taking weight from the sequence state. Either gate starts near
    the sequence state alone, so the other sources have to earn their weight."""

    def __init__(self, dim: int, memory_dim: int, use_graph: bool, use_temporal: bool,
                 mode: str = "softmax") -> None:
        super().__init__()
        if mode not in FUSIONS:
            raise IgcoreError(f"fusion must be one of {', '.join(FUSIONS)}, not {mode!r}")
        self.use_graph, self.mode = use_graph, mode
        self.mem_proj = nn.Linear(memory_dim, dim) if use_temporal else None
        self.n_sources = 1 + int(use_graph) + int(use_temporal)
        self.gate = nn.Linear(self.n_sources * dim, self.n_sources)
        with torch.no_grad():
            self.gate.bias.zero_()
            if mode == "softmax":
                self.gate.bias[0] = 3.0
            else:
                self.gate.bias[1:] = -3.0

    def forward(self, seq_state: torch.Tensor, graph_user: torch.Tensor | None,
                memory: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Interest vectors (..., d) and the sources' weights (..., n_sources), shares that sum to 1 (with
        ``residual``: each gate over one plus the gates), from sources of shape (..., d) (memory:
        (..., memory_dim)). A missing source counts as zeros."""
        others = []
        if self.use_graph:
            others.append(graph_user)
        if self.mem_proj is not None:
            others.append(self.mem_proj(memory) if memory is not None else None)
        if self.mode == "residual":
            others = [nn.functional.layer_norm(x, x.shape[-1:]) if x is not None else None for x in others]
        sources = [seq_state, *(x if x is not None else torch.zeros_like(seq_state) for x in others)]
        stacked = torch.stack(sources, dim=-2)  # (..., S, d)
        logits = self.gate(stacked.flatten(-2))
        if self.mode == "softmax":
            weights = torch.softmax(logits, dim=-1)
            return (weights.unsqueeze(-1) * stacked).sum(-2), weights
        gates = torch.cat([torch.ones_like(logits[..., :1]), torch.sigmoid(logits[..., 1:])], dim=-1)
        return (gates.unsqueeze(-1) * stacked).sum(-2), gates / gates.sum(-1, keepdim=True)
