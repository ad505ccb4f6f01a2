"""Scorers for recommendations at snapshots: the built-in evidence scorer, and an adapter for trained models.

Evidence scorer (works without any model, at every snapshot): the user's query vector is the decayed-evidence
mean of the vectors of the items they interacted with,

    q(u, t) = sum over events e of u before t of  a_e * v(item_e),   a_e = w_e * decay(t - ts_e) / sum of those,

and an item's score is q . v(item), ranked over the whole catalogue or, beyond ``evidence_pool`` items, over a
pool that gives every interest its most used items (so the cost per snapshot does not grow with the catalogue).
The score is linear in the events, which makes explanations exact (:mod:`igcore.interests.explain`).
A model (any object with ``score(user indexes) -> (n, n_items)``, such as the pipeline's ``IgcoreRecommender``)
scores only in its current state, so its lists and predicted affinities are stored for each user's latest snapshot
when snapshots are built or updated.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from igcore.interests.vectors import ItemVectors, normalised

POINT_CHUNK = 256
ITEM_BLOCK = 4096  # items per one-hot block of predicted_shares (its memory: the block times the interests)
SCORE_DECIMALS = 9  # evidence scores are rounded to this before ranking (see evidence_top_k)


@dataclasses.dataclass
class ModelScorer:
    """A trained model with the ids its indexes stand for."""

    model: Any  # .score(np.ndarray of user indexes) -> (n, n_items); optionally .item_vectors()
    user_ids: Sequence[str]
    item_ids: Sequence[str]
    name: str = "model"

    def __post_init__(self) -> None:
        self.item_ids = np.asarray(self.item_ids, dtype=object)

    @functools.cached_property
    def _users(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.user_ids)}

    @functools.cached_property
    def item_index(self) -> pd.Index:
        """The model's item ids as an index (position = the model's item index), for lookups by id."""
        return pd.Index(self.item_ids, dtype=object)

    def index_of(self, user_id: str) -> int | None:
        """The model's index of a user, None for a user it does not know."""
        return self._users.get(user_id)

    def scores(self, user_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(mask of users the model knows, their score rows, in the model's own float type: a row per catalogue
        item is the largest array of a snapshot update, and a model's float32 scores gain nothing as float64)."""
        index = np.array([self._users.get(u, -1) for u in user_ids], dtype=np.int64)
        known = index >= 0
        rows = np.asarray(self.model.score(index[known])) if known.any() else np.zeros((0, len(self.item_ids)))
        return known, rows

    def vectors(self) -> ItemVectors | None:
        fn = getattr(self.model, "item_vectors", None)
        return normalised(self.item_ids, fn(), "model") if callable(fn) else None

    @classmethod
    def from_meta(cls, model: Any, meta: dict[str, Any]) -> ModelScorer:
        """A restored model with the ids of its checkpoint record (``model.json``)."""
        return cls(model, meta["user_ids"], meta["item_ids"])

    @classmethod
    def from_checkpoint(cls, store, path: Path | None = None, at=None) -> ModelScorer:
        """The pipeline's trained model from its checkpoint, online state replayed up to ``at``."""
        from igcore.pipeline.run import load

        return cls.from_meta(*load(store, path, at))

    @classmethod
    def from_serving(cls, store, path: Path | None = None) -> ModelScorer:
        """The checkpoint's serving state at every stored event: it scores as the model does, and holds only
        arrays (what Ray workers are sent)."""
        from igcore.pipeline.run import serving_state

        state, meta, _ = serving_state(store, path)
        return cls.from_meta(state, meta)


def query_vectors(point: np.ndarray, item: np.ndarray, weight: np.ndarray, n_points: int,
                  vectors: ItemVectors) -> np.ndarray:
    """q per point from (point, item row, decayed weight) triples sorted by point: weights normalised to sum to 1
    per point. Points without evidence get a zero query. The triples are the rows of a sparse
    (points x items) matrix whose product with the item vectors is every query at once; gathering a vector per
    triple first costs tens of times more."""
    import torch

    out_shape = (n_points, vectors.matrix.shape[1])
    if len(point) == 0:
        return np.zeros(out_shape)
    totals = np.bincount(point, weights=weight, minlength=n_points)
    share = weight / np.where(totals[point] > 0, totals[point], 1.0)
    starts = np.searchsorted(point, np.arange(n_points + 1))
    used, column = np.unique(item, return_inverse=True)  # only the rows the triples name: a chunk of users
    #                                                      reads a small part of a large catalogue
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notice that sparse CSR support is in beta
        shares = torch.sparse_csr_tensor(torch.as_tensor(starts), torch.as_tensor(column, dtype=torch.int64),
                                         torch.as_tensor(share, dtype=torch.float64),
                                         size=(n_points, len(used)), check_invariants=False)
        return (shares @ torch.as_tensor(vectors.matrix[used], dtype=torch.float64)).numpy()


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(column indexes, scores) of each row's k best, best first (ties: the lower column first); -inf entries
    never chosen (fewer columns then come back as -1).

    On a wide matrix a strided sample of each row bounds the row's k-th best from below (the k-th best of a
    subset cannot beat the k-th best of the whole), so one comparison pass leaves a few candidates per row to
    sort instead of a selection over every column."""
    rows_n, n = scores.shape
    k = min(k, n)
    cols = np.full((rows_n, k), -1, dtype=np.int64)
    vals = np.full((rows_n, k), -np.inf)
    if k == 0 or rows_n == 0:
        return cols, vals
    step = max(1, n // (256 * k))
    sample = scores[:, ::step]  # every column when step is 1: the floor is then the k-th best itself
    floor = np.partition(sample, sample.shape[1] - k, axis=1)[:, sample.shape[1] - k]
    row, col = np.nonzero(scores >= floor[:, None])
    val = scores[row, col]
    finite = np.isfinite(val)
    row, col, val = row[finite], col[finite], val[finite]
    order = np.lexsort((col, -val, row))
    row, col, val = row[order], col[order], val[order]
    rank = np.arange(len(row)) - np.searchsorted(row, row)
    keep = rank < k
    cols[row[keep], rank[keep]], vals[row[keep], rank[keep]] = col[keep], val[keep]
    return cols, vals


def candidate_pool(uses: np.ndarray, codes: np.ndarray, size: int) -> np.ndarray | None:
    """Rows the evidence scorer ranks when there are more than ``size`` items: each interest's most used item,
    then each one's second, and so on (items in no interest form one more group), so a small interest is not
    crowded out by a large one. ``uses``: events per item row; ``codes``: each row's interest, -1 for none.
    None when every item fits: ranking stays exact over the whole catalogue. Scoring is then linear in the
    snapshots, whatever the catalogue's size."""
    n = len(uses)
    if n <= size:
        return None
    by_use = np.lexsort((np.arange(n), -np.asarray(uses, np.float64), codes))  # group, most used first
    group_start = np.searchsorted(codes[by_use], codes[by_use], side="left")
    rank = np.empty(n, dtype=np.int64)
    rank[by_use] = np.arange(n) - group_start
    order = np.lexsort((np.arange(n), -np.asarray(uses, np.float64), rank))
    return np.sort(order[:size])


def evidence_top_k(point: np.ndarray, item: np.ndarray, weight: np.ndarray, n_points: int, vectors: ItemVectors,
                   k: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
    """Top-k item rows and scores per point for the evidence scorer, among the vectors' candidate rows; seen
    items (the triples, sorted by point) left out.

    Scores are rounded to ``SCORE_DECIMALS`` before ranking: items with equal vectors score equally in exact
    arithmetic, but a matrix product's last bits depend on how many users share it, so without rounding a tie's
    order would change with the chunk of users it was computed in (on Ray or here); rounded, the tie is a tie and
    goes to the lower item row."""
    queries = query_vectors(point, item, weight, n_points, vectors)
    rows = vectors.candidate_rows()
    column = np.full(len(vectors.item_ids), -1, dtype=np.int64)  # item row -> candidate column
    column[rows] = np.arange(len(rows))
    cols = np.full((n_points, min(k, len(rows))), -1, dtype=np.int64)
    vals = np.full(cols.shape, -np.inf)
    items_t = np.ascontiguousarray(vectors.matrix[rows].T, dtype=np.float64)  # once, not per chunk
    seen = column[item]  # each triple's candidate column (-1: not a candidate)
    for lo in range(0, n_points, POINT_CHUNK):
        hi = min(lo + POINT_CHUNK, n_points)
        scores = np.round(queries[lo:hi] @ items_t, SCORE_DECIMALS)
        scores[~queries[lo:hi].any(axis=1)] = -np.inf
        if exclude_seen:  # the chunk's triples, found by binary search (they are sorted by point)
            a, b = np.searchsorted(point, [lo, hi])
            sel = slice(a, b)
            ok = seen[sel] >= 0
            scores[point[sel][ok] - lo, seen[sel][ok]] = -np.inf
        cols[lo:hi], vals[lo:hi] = top_k(scores, k)
    return np.where(cols >= 0, rows[np.maximum(cols, 0)], -1), vals


def predicted_shares(scores: np.ndarray, item_codes: np.ndarray, n_codes: int) -> np.ndarray:
    """P(next item in interest) = sum of the softmax of the scores over the interest's items; rows sum to
    at most 1 (items outside every interest keep the rest). The sums are products with each block of items'
    one-hot interest matrix: gathering every row's columns by interest costs several times more."""
    out = np.zeros((len(scores), n_codes))
    if len(scores) == 0 or not (item_codes >= 0).any():
        return out
    p = scores.astype(np.float64)  # a copy, whatever the model's float type
    p -= p.max(axis=1, keepdims=True)
    np.exp(p, out=p)
    for lo in range(0, p.shape[1], ITEM_BLOCK):
        codes = item_codes[lo:lo + ITEM_BLOCK]
        member = np.flatnonzero(codes >= 0)
        onehot = np.zeros((len(codes), n_codes))
        onehot[member, codes[member]] = 1.0
        out += p[:, lo:lo + ITEM_BLOCK] @ onehot
    return out / p.sum(axis=1, keepdims=True)
