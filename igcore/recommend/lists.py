"""A user's top-K from a row of scores: what to leave out, the best items, and why each was recommended.

Pure functions over index arrays, so the CLI, the dashboard and tests rank the same way whatever scored the
items (the network, or the saved serving state).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from igcore.ranking import top_k, unit_rows

EXCLUDE = ("none", "bought", "seen")  # what a recommendation leaves out: nothing, the user's purchases, or history
BOUGHT = "purchase"  # the canonical event type of a purchase (igcore.config.DEFAULT_EVENT_VOCAB)
HISTORY_REASONS = 20  # the latest distinct history items an explanation looks at


def excluded_items(seen: np.ndarray, seen_types: np.ndarray, type_names: Sequence[str], exclude: str) -> np.ndarray:
    """The item indexes to leave out of a user's list: none, the items they bought, or every item they saw
    (``seen`` and ``seen_types`` are the user's events' items and type codes)."""
    if exclude not in EXCLUDE:
        raise ValueError(f"exclude must be one of {', '.join(EXCLUDE)}, not {exclude!r}")
    if exclude == "none":
        return np.zeros(0, dtype=np.int64)
    if exclude == "seen":
        return np.unique(seen)
    bought = [t for t, name in enumerate(type_names) if name == BOUGHT]
    return np.unique(seen[np.isin(seen_types, bought)])


def top_items(scores: np.ndarray, excluded: np.ndarray, k: int) -> list[int]:
    """The k best item indexes of one score row, best first, never an excluded one (fewer when too few are
    left)."""
    ranked = np.asarray(scores, dtype=np.float64).copy()
    ranked[excluded] = -np.inf
    return [i for i in top_k(ranked[None], k)[0].tolist() if np.isfinite(ranked[i])]


def recent_distinct(seen: np.ndarray, n: int = HISTORY_REASONS) -> list[int]:
    """The user's ``n`` latest distinct items, latest first (``seen`` in time order)."""
    return list(dict.fromkeys(np.asarray(seen)[::-1].tolist()))[:n]


def because_of(item_vectors: np.ndarray, history: list[int], items: list[int], n: int = 3
               ) -> list[list[tuple[int, float]]]:
    """For each recommended item, the ``n`` history items most similar to it with their cosine similarity.
    By cosine, not raw dot product: by the latter the history item with the longest vector would be every
    recommendation's first reason."""
    if not history:
        return [[] for _ in items]
    vectors = unit_rows(item_vectors)
    out = []
    for item in items:
        sims = vectors[history] @ vectors[item]
        out.append([(history[j], float(sims[j])) for j in np.argsort(-sims)[:n]])
    return out
