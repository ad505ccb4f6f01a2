"""The graph each training position may read: never one that already holds the position's target.

Two ways for a GNN to act (``PipelineConfig.graph_on``; the third, ``score``, trains nothing and reads no graph
in training: :mod:`igcore.pipeline.scored_graph`):
- ``users``: the GNN's user vector enters at each user's LAST training position only, from the graph without
  each user's last training event (earlier positions would find their targets in it);
- ``items``: the item table is propagated over the graph and read at EVERY position. The training log is cut
  into ``graph_slices`` slices of consecutive events (in time order); a position whose target lies in slice s
  reads the graph of the events before slice s. Earlier positions of a window have earlier targets, so nothing
  a position's hidden state is built from holds its target.
Validation and serving read the graph of every training event. Its edges (``graph_edges``) are each user's
items, or with the graph on items, the items users chose one after another (an item-item transition graph).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from igcore.embed import GRAPH_ON
from igcore.embed.graph import graph_operator
from igcore.events import Interactions
from igcore.pipeline.config import PipelineConfig


@dataclasses.dataclass(frozen=True)
class TrainingGraph:
    """``operators``: one graph (users) or one per slice (items); ``slice_of_event``: items only, the slice of
    each training event, by which a position finds its graph through its target's index."""

    operators: list[torch.Tensor]
    slice_of_event: torch.Tensor | None = None

    @property
    def on_items(self) -> bool:
        return self.slice_of_event is not None


def training_graph(cfg: PipelineConfig, train: Interactions, device: torch.device | str) -> TrainingGraph | None:
    """The graphs training reads under ``cfg``, or None without a graph stage."""
    if cfg.graph_on not in GRAPH_ON:
        raise ValueError(f"graph_on must be one of {', '.join(GRAPH_ON)}, not {cfg.graph_on!r}")
    if cfg.graph_edges == "transitions" and cfg.graph_on != "items":
        raise ValueError("graph_edges=transitions links items alone: it needs graph_on=items")
    if not cfg.gnn_stage:
        return None

    def graph(mask: np.ndarray | slice) -> torch.Tensor:
        return graph_operator([(train.user[mask], train.item[mask])], train.n_users, train.n_items, cfg.gnn, device,
                              cfg.graph_edges)

    if cfg.graph_on == "items":
        n, slices = len(train), max(cfg.graph_slices, 1)
        slice_of_event = np.minimum(np.arange(n) * slices // max(n, 1), slices - 1)
        starts = np.searchsorted(slice_of_event, np.arange(slices))
        return TrainingGraph([graph(slice(0, int(a))) for a in starts], torch.as_tensor(slice_of_event))
    pos, counts = train.positions_in_user(), np.bincount(train.user, minlength=train.n_users)
    return TrainingGraph([graph(pos != counts[train.user] - 1)])
