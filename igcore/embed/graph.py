"""The user-item graph as the GNN reads it, and the users' graph vectors.

Item nodes are numbered after the users. The graph links each user to its items (``interactions``) or the items
one user chose one after another (``transitions``: an item-item graph whose user nodes stand alone). It is
built from the events the caller passes, in time order (the trainer
passes only events before the positions it trains, so no position finds its target in the graph). User nodes
start from zeros, so a user's vector is a function of the graph and the item vectors only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from igcore.embed.gnn import EDGES, GraphEncoder
from igcore.embed.pyg import to_torch_csr_tensor

Edges = Sequence[tuple[np.ndarray, np.ndarray]]  # chunks of (user index, item index) arrays


def graph_operator(edges: Edges, n_users: int, n_items: int, kind: str, device: torch.device | str,
                   links: str = "interactions") -> torch.Tensor:
    """The graph of the (user, item) events in ``edges`` (chunks in time order) with ``links`` as its edges
    (:data:`igcore.embed.gnn.EDGES`), both directions: an edge index for GAT (its attention needs one), a sparse
    CSR adjacency for the others (faster message passing on CPU)."""
    if links not in EDGES:
        raise ValueError(f"graph_edges must be one of {', '.join(EDGES)}, not {links!r}")
    users = torch.as_tensor(np.concatenate([u for u, _ in edges]), dtype=torch.long)
    items = torch.as_tensor(np.concatenate([i for _, i in edges]), dtype=torch.long)
    edge_index = EDGES[links](users, items, n_users)
    if kind == "gat":
        return edge_index.to(device)
    n = n_users + n_items
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notice that sparse CSR support is in beta
        return to_torch_csr_tensor(edge_index, size=(n, n)).to(device)


def user_vectors(gnn: GraphEncoder, items: torch.Tensor, graph: torch.Tensor, n_users: int,
                 users: torch.Tensor | None = None) -> torch.Tensor:
    """(n_users, d): the GNN over zero user nodes and the item vectors (``items`` without its padding row 0).
    With ``users``, (len(users), d): those users' rows alone, in that order. A :attr:`GraphEncoder.local` GNN
    over an adjacency then computes each layer only where the next one reads it (:func:`neighbourhood_blocks`):
    a training batch's users reach a part of the graph, and the whole graph's forward and backward were most of
    a batch's cost."""
    if users is not None and gnn.local and graph.layout == torch.sparse_csr:
        nodes, blocks = neighbourhood_blocks(graph, users.to(graph.device), len(gnn.convs))
        rows = (nodes - n_users + 1).clamp_min(0)  # item nodes' rows in ``items``; user nodes read the zero row 0
        return gnn.forward_blocks(items[rows] * (nodes >= n_users)[:, None], blocks)
    h = gnn(torch.cat([items.new_zeros(n_users, items.shape[1]), items[1:]]), graph)
    return h[:n_users] if users is None else h[users]


def neighbourhood_blocks(graph: torch.Tensor, nodes: torch.Tensor,
                         layers: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """What a ``layers``-layer GNN over the CSR adjacency ``graph`` reads to compute its outputs at ``nodes``:
    the input nodes, ordered so that every layer's destination nodes are their first rows (``nodes`` first,
    then each hop's new neighbours), and per layer the adjacency from its source nodes (the destinations of the
    layer before, or the inputs) to its destination nodes (those whose output the next layer reads), with
    columns in the input order."""
    crow, col, values = graph.crow_indices(), graph.col_indices(), graph.values()
    hops = [nodes]  # hops[k]: the nodes whose vectors after layer (layers - k) are read
    for _ in range(layers):
        reached = torch.unique(col[_edges_of(crow, hops[-1])])
        hops.append(torch.cat([hops[-1], reached[~torch.isin(reached, hops[-1])]]))
    inputs = hops[-1]
    position = torch.full((graph.shape[1],), -1, dtype=torch.long, device=graph.device)
    position[inputs] = torch.arange(len(inputs), device=graph.device)
    blocks = []
    for k in range(layers, 0, -1):  # layer 1 first: destinations hops[k - 1], sources hops[k]
        dst, n_src = hops[k - 1], len(hops[k])
        edges = _edges_of(crow, dst)
        counts = crow[dst + 1] - crow[dst]
        block_crow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        blocks.append(torch.sparse_csr_tensor(block_crow, position[col[edges]], values[edges],
                                              size=(len(dst), n_src)))
    return inputs, blocks


def _edges_of(crow: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
    """The positions in a CSR adjacency's column list of the edges of ``nodes``' rows, row after row."""
    starts, counts = crow[nodes], crow[nodes + 1] - crow[nodes]
    offsets = torch.cumsum(counts, 0) - counts  # where each row's edges start in the result
    return torch.repeat_interleave(starts - offsets, counts) + torch.arange(int(counts.sum()), device=crow.device)
