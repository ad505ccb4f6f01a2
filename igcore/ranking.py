"""Ranking over score matrices, shared by every layer: top-K lists, a target's rank, NDCG, cosine rows.

Part of the core: training's early stopping, the recommend stage, the interest graph and the evaluation harness
all rank the same way, so they share these few pure functions.

Rank of the target = 1 + (items scoring higher) + (other items scoring the same): ties are broken against the
target, so a model cannot gain from giving many items one score (a constant model ranks every target last).
NDCG@K = 1/log2(rank + 1) when rank <= K, else 0.
"""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best items per row, best first (k capped at the catalogue size)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based pessimistic rank of ``targets[i]`` in row ``scores[i]``."""
    scores = np.asarray(scores)
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets][:, None]
    higher = (scores > target_scores).sum(axis=1)
    ties = (scores == target_scores).sum(axis=1) - 1
    return (1 + higher + ties).astype(np.int64)


def ndcg(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k of 1-based ranks (0.0 for no cases)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0).mean()) if len(ranks) else 0.0


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero): dot products of them are cosines."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Each row shifted to mean 0 and scaled to standard deviation 1 over the catalogue; a constant row is 0."""
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.std(axis=1, keepdims=True)
    return (scores - scores.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)
