"""Exposure of the catalogue in what a model recommends: how unevenly the top-K lists spread over the items
(Gini), how much of each list comes from the long tail (APLT), how popular the recommended items are.

Accuracy alone rewards a model that shows every shopper the same bestsellers; these figures sit beside it so a
gain in NDCG that comes from narrowing the catalogue is visible. Popularity is always the training split's
(:class:`TrainPopularity`, computed once per split by the harness), never the test period's.

Definitions (Abdollahpouri et al., "Managing Popularity Bias in Recommender Systems", FLAIRS 2019):

- **Head and long tail.** Sort items by training interactions, most first; the head is the fewest most popular
  items whose interactions make up at least :data:`HEAD_SHARE` of all training interactions, together with any
  item exactly as popular as the last of them (ties are never split by item id). Every other item, including
  items with no training interaction, is long tail.
- **APLT@K** (average percentage of long tail): the share of long-tail items in each top-K list, averaged over
  the lists.
- **Gini of exposure@K**: the Gini coefficient of how often each catalogue item appears in the top-K lists,
  over every item of the catalogue (an item never recommended counts as zero exposure): 0 when every item is
  shown equally often, approaching 1 when a few items take all the slots.
- **Mean popularity@K**: the average training interaction count of the recommended items.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from igcore.events import Interactions

HEAD_SHARE = 0.2  # the head's share of training interactions; the rest of the catalogue is the long tail


@dataclasses.dataclass(frozen=True)
class TrainPopularity:
    """Training interactions per item and the long-tail mask derived from them, computed once per split."""

    counts: np.ndarray  # float64, one per catalogue item
    tail: np.ndarray  # bool, one per catalogue item: True for long-tail items

    @classmethod
    def of(cls, counts: np.ndarray) -> TrainPopularity:
        counts = np.asarray(counts, dtype=np.float64)
        return cls(counts, long_tail(counts))

    @classmethod
    def from_train(cls, train: Interactions, n_items: int) -> TrainPopularity:
        return cls.of(np.bincount(train.item, minlength=n_items))


def long_tail(counts: np.ndarray, head_share: float = HEAD_SHARE) -> np.ndarray:
    """True for each long-tail item (module docstring): outside the most popular items that together make up
    ``head_share`` of all interactions. With no interactions at all, every item is long tail."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return np.ones(len(counts), dtype=bool)
    ordered = np.sort(counts)[::-1]
    last_head = int(np.searchsorted(np.cumsum(ordered), head_share * total))  # first prefix reaching the share
    threshold = ordered[min(last_head, len(ordered) - 1)]
    return ~((counts >= threshold) & (counts > 0))


def gini(values: np.ndarray) -> float | None:
    """Gini coefficient of non-negative values: mean absolute difference over all ordered pairs divided by twice
    the mean. None for an empty vector or one summing to zero (nothing was exposed)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return None
    ranks = np.arange(1, n + 1, dtype=np.float64)
    return float((2.0 * (ranks * x).sum()) / (n * total) - (n + 1.0) / n)


def exposure_counts(recommended: np.ndarray, n_items: int, k: int) -> np.ndarray:
    """How many of the top-``k`` lists (rows of ``recommended``, best first) each catalogue item appears in."""
    return np.bincount(np.asarray(recommended)[:, :k].ravel(), minlength=n_items)


def exposure_summary(recommended: np.ndarray, popularity: TrainPopularity, k: int = 10) -> dict[str, float | None]:
    """``gini_exposure@k``, ``aplt@k`` and ``mean_pop@k`` of the top-``k`` lists in ``recommended``."""
    top = np.asarray(recommended)[:, :k]
    if top.size == 0:
        return {f"gini_exposure@{k}": None, f"aplt@{k}": None, f"mean_pop@{k}": None}
    return {f"gini_exposure@{k}": gini(exposure_counts(top, len(popularity.counts), k)),
            f"aplt@{k}": float(popularity.tail[top].mean(axis=1).mean()),
            f"mean_pop@{k}": float(popularity.counts[top].mean())}
