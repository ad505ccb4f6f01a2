"""Full-catalogue ranking metrics, computed from the target's rank (:mod:`igcore.ranking` ranks).

Excluded items (e.g. the user's history, per protocol) score -inf before ranking. With one target per case,
HR@K equals Recall@K. NDCG@K = 1/log2(rank + 1) when rank <= K, else 0. MRR is over the whole ranking. Beside
accuracy, the exposure of the top-10 lists (:mod:`igcore.evaluate.exposure`: Gini, long-tail share, mean
popularity) when the training popularity is given.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from igcore.evaluate.exposure import TrainPopularity, exposure_summary
from igcore.ranking import ndcg, target_ranks, top_k

KS = (5, 10, 20)


@dataclasses.dataclass
class RankAccumulator:
    """Collects per-case ranks and top-K lists; ``summary()`` gives the metric dictionary."""

    n_items: int
    ranks: list[np.ndarray] = dataclasses.field(default_factory=list)
    users: list[np.ndarray] = dataclasses.field(default_factory=list)
    recommended: list[np.ndarray] = dataclasses.field(default_factory=list)  # top max(KS) per case

    def add(self, users: np.ndarray, scores: np.ndarray, targets: np.ndarray) -> None:
        if len(targets) == 0:
            return
        self.ranks.append(target_ranks(scores, targets))
        self.users.append(np.asarray(users))
        self.recommended.append(top_k(scores, max(KS)))

    def all_ranks(self) -> np.ndarray:
        return np.concatenate(self.ranks) if self.ranks else np.zeros(0, dtype=np.int64)

    def all_users(self) -> np.ndarray:
        return np.concatenate(self.users) if self.users else np.zeros(0, dtype=np.int64)

    def summary(self, popularity: TrainPopularity | None = None) -> dict[str, float | int | None]:
        return summarise(self.all_ranks(), np.concatenate(self.recommended) if self.recommended else None,
                         self.n_items, popularity)


def summarise(ranks: np.ndarray, recommended: np.ndarray | None, n_items: int,
              popularity: TrainPopularity | None = None) -> dict[str, float | int | None]:
    """HR/NDCG@5,10,20, MRR, coverage@K and, given the training popularity, the exposure of the top-10 lists:
    ``gini_exposure@10``, ``aplt@10``, ``mean_pop@10``.

    An empty set of cases gives ``None`` for every metric (not 0: nothing was measured)."""
    out: dict[str, float | int | None] = {"cases": int(len(ranks))}
    if len(ranks) == 0:
        for k in KS:
            out[f"hr@{k}"] = out[f"ndcg@{k}"] = out[f"coverage@{k}"] = None
        out["mrr"] = out["gini_exposure@10"] = out["aplt@10"] = out["mean_pop@10"] = None
        return out
    ranks = ranks.astype(np.float64)
    for k in KS:
        hit = ranks <= k
        out[f"hr@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = ndcg(ranks, k)
        if recommended is not None:
            out[f"coverage@{k}"] = float(len(np.unique(recommended[:, :k])) / n_items)
    out["mrr"] = float((1.0 / ranks).mean())
    if recommended is not None and popularity is not None:
        out.update(exposure_summary(recommended, popularity, 10))
    return out
