"""GNN encoders over the user-item graph, chosen by name: GIN (default), GCN, GAT, SAGE or LightGCN, and the
graph's edges: each user's items (bipartite) or the items users chose one after another (transitions).

All layers are torch_geometric's. ``resolve_gnn`` turns a name into a layer factory and raises a ValueError
listing the valid names, as PyG's own resolvers do.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from igcore.embed.pyg import GATConv, GCNConv, GINConv, LGConv, SAGEConv

LayerFactory = Callable[[int, int], nn.Module]


def _gin(d_in: int, d_out: int) -> nn.Module:
    return GINConv(nn.Sequential(nn.Linear(d_in, d_out), nn.ReLU(), nn.Linear(d_out, d_out)), train_eps=True)


GNNS: dict[str, LayerFactory] = {
    "gin": _gin,
    "gcn": lambda d_in, d_out: GCNConv(d_in, d_out),
    "gat": lambda d_in, d_out: GATConv(d_in, d_out, heads=1),
    "sage": lambda d_in, d_out: SAGEConv(d_in, d_out),
    "lightgcn": lambda d_in, d_out: LGConv(),  # parameter-free propagation; needs d_in == d_out
}


def resolve_gnn(name: str) -> LayerFactory:
    key = name.lower()
    if key not in GNNS:
        raise ValueError(f"unknown GNN {name!r}; valid names: {', '.join(GNNS)}")
    return GNNS[key]


class GraphEncoder(nn.Module):
    """``layers`` message-passing layers of one kind. Learned layers are joined by ReLU and a residual
    connection; LightGCN averages its layer outputs (He et al. 2020)."""

    def __init__(self, kind: str = "gin", dim: int = 64, layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.kind = kind.lower()
        factory = resolve_gnn(self.kind)
        self.convs = nn.ModuleList([factory(dim, dim) for _ in range(layers)])
        self.dropout = nn.Dropout(dropout)

    @property
    def local(self) -> bool:
        """Whether a node's output reads only its neighbourhood's rows of the adjacency: the sum (GIN) and the
        mean (SAGE) of its neighbours do, GCN's and LightGCN's degree norms and GAT's edge list do not. Such a
        GNN can run on the blocks of a few nodes' neighbourhoods (:meth:`forward_blocks`)."""
        return self.kind in LOCAL

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        if self.kind == "lightgcn":
            outs = [x]
            for conv in self.convs:
                outs.append(conv(outs[-1], edge_index))
            return torch.stack(outs).mean(0)
        h = x
        for i, conv in enumerate(self.convs):
            h = self._step(i, conv(h, edge_index), h)
        return h

    def forward_blocks(self, x: torch.Tensor, blocks: list[torch.Tensor]) -> torch.Tensor:
        """The outputs at the first rows of ``x`` alone, from the blocks of their neighbourhood
        (:func:`igcore.embed.graph.neighbourhood_blocks`): block ``i`` is layer ``i``'s adjacency from its source
        nodes (the first ``blocks[i].shape[1]`` rows of ``x``) to its destination nodes (the first
        ``blocks[i].shape[0]``). Equal to :meth:`forward`'s rows of those nodes for a :attr:`local` GNN."""
        h = x
        for i, (conv, block) in enumerate(zip(self.convs, blocks, strict=True)):
            h_dst = h[:block.shape[0]]
            h = self._step(i, conv((h[:block.shape[1]], h_dst), block), h_dst)
        return h

    def _step(self, i: int, out: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Layer ``i``'s new node vectors from its output and its input vectors ``h``."""
        h = h + (torch.relu(out) if i < len(self.convs) - 1 else out)
        return self.dropout(h)


LOCAL = frozenset({"gin", "sage"})


def bipartite_edge_index(users: torch.Tensor, items: torch.Tensor, n_users: int) -> torch.Tensor:
    """Both directions of each distinct (user, item) pair, ordered by user then item; item nodes are numbered
    after the users. Pairs are made distinct through one integer key per pair: ``torch.unique(dim=1)`` gives the
    same pairs but compares them column by column, about 20 times slower on a 150,000-event log."""
    if len(users) == 0:
        return torch.zeros(2, 0, dtype=torch.long)
    width = int(items.max()) + 1
    keys = torch.unique(users.long() * width + items.long())  # sorted: by user, then item
    pairs = torch.stack([keys // width, keys % width + n_users])
    return torch.cat([pairs, pairs.flip(0)], dim=1)


def transition_edge_index(users: torch.Tensor, items: torch.Tensor, n_users: int) -> torch.Tensor:
    """Both directions of each distinct pair of different items that one user chose one right after the other
    (each user's events in the order given), between item nodes numbered after the users; user nodes have no
    edge. Ordered by source, then destination."""
    order = torch.sort(users, stable=True).indices
    u, i = users[order].long(), items[order].long()
    follows = (u[1:] == u[:-1]) & (i[1:] != i[:-1])
    if not follows.any():
        return torch.zeros(2, 0, dtype=torch.long)
    a, b = i[:-1][follows], i[1:][follows]
    width = int(i.max()) + 1
    keys = torch.unique(torch.cat([a * width + b, b * width + a]))  # sorted: by source, then destination
    return torch.stack([keys // width, keys % width]) + n_users


EDGES = {"interactions": bipartite_edge_index, "transitions": transition_edge_index}
