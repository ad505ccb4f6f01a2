"""LightGCN (He et al., SIGIR 2020) with torch_geometric's ``LightGCN`` layer stack, trained with BPR on the
user-item graph of the training events. ``update`` adds the new edges and propagates again, without gradient
steps, so new interactions (and new users, through their items) shape the scores at once."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch

from igcore.embed.pyg import LightGCN as PygLightGCN
from igcore.embed.pyg import to_torch_csr_tensor
from igcore.events import Interactions
from igcore.pipeline.training import SeededModel, fit_with_early_stopping
from igcore.ranking import top_k


@dataclasses.dataclass(frozen=True)
class LightGCNConfig:
    dim: int = 64
    layers: int = 3
    lr: float = 5e-3
    reg: float = 1e-4
    batch_size: int = 4096
    epochs: int = 100
    max_train_s: float = 420.0
    device: str = "auto"
    seed: int = 0


class LightGCN(SeededModel):
    name = "LightGCN"
    config_class = LightGCNConfig

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        cfg = self.cfg
        rng = self._seed()
        self.n_users, self.n_items = train.n_users, train.n_items
        self.model = PygLightGCN(self.n_users + self.n_items, cfg.dim, cfg.layers).to(self.device)
        pairs = np.unique(np.stack([train.user, train.item], axis=1), axis=0)
        self.src, self.dst = [pairs[:, 0].tolist()], [pairs[:, 1].tolist()]
        edge_index = self._edge_index()
        seen = set(map(tuple, pairs.tolist()))
        opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)

        def run_epoch(epoch: int) -> float:
            order = rng.permutation(len(pairs))
            neg = rng.integers(0, self.n_items, len(pairs))
            for r in np.flatnonzero([(u, n) in seen for (u, _), n in zip(pairs[order], neg)]):
                neg[r] = rng.integers(0, self.n_items)  # one resample; a rare leftover positive is harmless
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                users = torch.as_tensor(pairs[idx, 0], device=self.device)
                pos = torch.as_tensor(pairs[idx, 1] + self.n_users, device=self.device)
                negs = torch.as_tensor(neg[start:start + len(idx)] + self.n_users, device=self.device)
                emb = self.model.get_embedding(edge_index)
                pos_rank = (emb[users] * emb[pos]).sum(-1)
                neg_rank = (emb[users] * emb[negs]).sum(-1)
                node_id = torch.cat([users, pos, negs])
                loss = self.model.recommendation_loss(pos_rank, neg_rank, node_id=node_id, lambda_reg=cfg.reg)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            return total / len(pairs)

        # No validation: every epoch runs until the epoch count or the time cap; one position per BPR pair.
        fit_with_early_stopping(self.model, run_epoch, None, cfg.epochs, 1, cfg.epochs, cfg.max_train_s, self.log,
                                positions=len(pairs))
        self._propagate()

    def _edge_index(self) -> torch.Tensor:
        """Both directions of every user-item edge, as a sparse CSR adjacency: PyG's layers then propagate
        with a sparse matrix product, much faster on CPU than gather/scatter over an edge list."""
        src = torch.as_tensor([u for part in self.src for u in part], dtype=torch.long)
        dst = torch.as_tensor([i for part in self.dst for i in part], dtype=torch.long) + self.n_users
        edges = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
        n = self.n_users + self.n_items
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notice that sparse CSR support is in beta
            return to_torch_csr_tensor(edges, size=(n, n)).to(self.device)

    @torch.no_grad()
    def _propagate(self) -> None:
        self.model.eval()
        emb = self.model.get_embedding(self._edge_index())
        self.user_emb, self.item_emb = emb[: self.n_users], emb[self.n_users:]

    def update(self, events: Interactions) -> None:
        self.src.append(events.user.tolist())
        self.dst.append(events.item.tolist())
        self._propagate()

    @torch.no_grad()
    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        u = self.user_emb[torch.as_tensor(users, device=self.device)]
        return (u @ self.item_emb.T).float().cpu().numpy()

    def recommend(self, user: int, k: int = 10, at: int | None = None) -> np.ndarray:
        return top_k(self.score(np.array([user]), at), k)[0]
