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


def user_vectors(gnn: GraphEncoder, items: torch.Tensor, graph: torch.Tensor, n_users: int) -> torch.Tensor:
    """(n_users, d): the GNN over zero user nodes and the item vectors (``items`` without its padding row 0)."""
    h = gnn(torch.cat([items.new_zeros(n_users, items.shape[1]), items[1:]]), graph)
    return h[:n_users]
