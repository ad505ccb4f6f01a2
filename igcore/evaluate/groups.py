"""Groups of test cases the harness reports NDCG@10 by, each a closed range of a per-case history length.

- **Segments**: the user's history length when the case was scored (training, validation and, in streaming
  replay, the test events fed so far), in fixed ranges, to see how a model does on cold and on rich users.
- **Activity groups** (``light`` / ``medium`` / ``heavy``): the user's training-history length, cut into thirds of
  the users who have training events (:func:`activity_groups`). The cut points come from the split itself, so
  each group holds about a third of the users on any dataset; an accuracy gain bought for heavy users only, at
  light users' cost, shows here.
"""

from __future__ import annotations

import numpy as np

from igcore.ranking import ndcg

Group = tuple[int, int, str]  # lowest and highest history length (both included), label

UNBOUNDED = 10**12
SEGMENTS: tuple[Group, ...] = ((0, 0, "history 0"), (1, 4, "history 1-4"), (5, 19, "history 5-19"),
                               (20, UNBOUNDED, "history 20+"))
ACTIVITY = ("light", "medium", "heavy")


def activity_groups(train_lengths: np.ndarray) -> tuple[Group, ...]:
    """Light, medium and heavy users by training-history length, the one place the cut points are defined.

    Over the users with at least one training event, the cut points are the lower and upper tertiles of their
    history lengths (the smallest length that at least a third, and two thirds, of these users do not exceed):
    light up to the first, medium up to the second, heavy above it. Users without training events count as
    light. Users tied at a cut point share a group, so with many equal lengths a group may be larger than a
    third, and medium may be empty (cut points equal)."""
    lengths = np.asarray(train_lengths)
    lengths = lengths[lengths > 0]
    if len(lengths) == 0:
        return ((0, UNBOUNDED, ACTIVITY[0]), (1, 0, ACTIVITY[1]), (1, 0, ACTIVITY[2]))  # all light
    low, high = (int(q) for q in np.quantile(lengths, [1 / 3, 2 / 3], method="inverted_cdf"))
    return ((0, low, ACTIVITY[0]), (low + 1, high, ACTIVITY[1]), (high + 1, UNBOUNDED, ACTIVITY[2]))


def ndcg_by_group(ranks: np.ndarray, lengths: np.ndarray, groups: tuple[Group, ...],
                  k: int = 10) -> dict[str, dict[str, int | float | None]]:
    """Per group label: how many cases (``lengths[i]`` is case i's history length) and their NDCG@k, None for
    a group without cases (nothing was measured)."""
    ranks, lengths = np.asarray(ranks), np.asarray(lengths)
    out: dict[str, dict[str, int | float | None]] = {}
    for lo, hi, label in groups:
        sel = (lengths >= lo) & (lengths <= hi)
        out[label] = {"cases": int(sel.sum()), f"ndcg@{k}": ndcg(ranks[sel], k) if sel.any() else None}
    return out


def describe(groups: tuple[Group, ...]) -> dict[str, str]:
    """Each group's history range as a person reads it: ``1-3``, ``4``, ``9+``; empty for an empty range."""
    out = {}
    for lo, hi, label in groups:
        out[label] = "" if hi < lo else f"{lo}+" if hi >= UNBOUNDED else str(lo) if lo == hi else f"{lo}-{hi}"
    return out
