"""Fixed-width windows over users' histories: the sequence encoder's input, with next-item targets to train.

Windows are left-padded and 1-based (0 pads): the last column is each user's latest event. A training window's
inputs are a history's events[:-1] and its targets events[1:]; ``target_events`` is each target's index in the
training log, by which a position finds the memory its user had before that event. :func:`prefix_windows` cuts
a training window into one row per target (``PipelineConfig.samples``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from igcore.encode.sequence import gap_buckets
from igcore.events import Interactions
from igcore.update.online import OnlineState


@dataclasses.dataclass(frozen=True)
class WindowBatch:
    """Rows of :class:`Windows` as tensors, cut to the longest row's length."""

    items: torch.Tensor
    types: torch.Tensor
    gaps: torch.Tensor
    targets: torch.Tensor
    target_events: torch.Tensor | None
    users: np.ndarray
    final: np.ndarray | None = None  # training: rows whose last position is the user's last training target


@dataclasses.dataclass(frozen=True)
class Windows:
    """(n, max_len) int64 arrays of the chosen users' last events, and their lengths."""

    items: np.ndarray
    types: np.ndarray
    gaps: np.ndarray
    targets: np.ndarray  # zeros without targets
    lengths: np.ndarray
    users: np.ndarray
    target_events: np.ndarray | None = None
    final: np.ndarray | None = None  # bool per row: its last position is the user's last training target

    def batch(self, rows: np.ndarray | slice, device: torch.device | str) -> WindowBatch:
        """The given rows, cut to the longest of them (at least one column)."""
        width = max(int(self.lengths[rows].max()), 1)
        t = lambda a: torch.as_tensor(a[rows, -width:], device=device)  # noqa: E731
        return WindowBatch(t(self.items), t(self.types), t(self.gaps), t(self.targets),
                           t(self.target_events) if self.target_events is not None else None, self.users[rows],
                           self.final[rows] if self.final is not None else None)


def windows(state: OnlineState, users: list[int], max_len: int, n_gap_buckets: int,
            with_targets: bool = False, ends: list[int] | None = None) -> Windows:
    """The windows of ``users``' last ``max_len`` events (with targets: inputs events[:-1], targets events[1:]);
    with ``ends``, row r's window ends before its user's event ``ends[r]`` instead (a point in the past)."""
    shape = (len(users), max_len)
    items, types, gaps, targets = (np.zeros(shape, dtype=np.int64) for _ in range(4))
    for r, u in enumerate(users):
        history, kinds = state.items[u], state.types[u]
        buckets = gap_buckets(state.times[u], n_gap_buckets)
        n = len(history) if ends is None else ends[r]
        n = n - 1 if with_targets else n
        lo = max(0, n - max_len)
        k = n - lo
        if k <= 0:
            continue
        items[r, -k:] = np.asarray(history[lo:n]) + 1
        types[r, -k:] = np.asarray(kinds[lo:n]) + 1
        gaps[r, -k:] = buckets[lo:n]
        if with_targets:
            targets[r, -k:] = np.asarray(history[lo + 1:n + 1]) + 1
    return Windows(items, types, gaps, targets, (items > 0).sum(axis=1), np.asarray(users, dtype=np.int64))


def training_windows(state: OnlineState, train: Interactions, max_len: int, n_gap_buckets: int) -> Windows:
    """The windows of every user with a target, with each target's index in ``train`` (the state's histories
    must be ``train`` in order)."""
    users = [u for u in range(state.n_users) if len(state.items[u]) >= 2]
    w = windows(state, users, max_len, n_gap_buckets, with_targets=True)
    by_user = np.argsort(train.user, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(train.user, minlength=state.n_users))])
    target_events = np.zeros_like(w.targets)
    for r, u in enumerate(users):
        k = int(w.lengths[r])
        target_events[r, -k:] = by_user[starts[u + 1] - k:starts[u + 1]]
    return dataclasses.replace(w, target_events=target_events, final=np.ones(len(users), dtype=bool))


def prefix_windows(w: Windows) -> Windows:
    """One row per target of the training windows ``w``: the window cut to end at that target's position (the
    inputs before it, left-padded again), the target at the last position only. Every input keeps what it had in
    ``w`` (item, type, gap, target event); positions count from the end, so each prefix is read with its target
    next, at the last position, the way scoring reads a user. The row of a window's last target is ``final``
    (the window itself)."""
    max_len = w.items.shape[1]
    source = np.repeat(np.arange(len(w.lengths)), w.lengths)  # the window each prefix is cut from
    ends = np.arange(len(source)) - np.repeat(np.cumsum(w.lengths) - w.lengths, w.lengths) + 1  # its length
    column = np.arange(max_len)[None] - w.lengths[source][:, None] + ends[:, None]  # the window's column
    real = np.arange(max_len)[None] >= max_len - ends[:, None]

    def cut(a: np.ndarray) -> np.ndarray:
        return np.where(real, a[source[:, None], column.clip(0, max_len - 1)], 0)

    targets = np.zeros((len(source), max_len), dtype=np.int64)
    targets[:, -1] = w.targets[source, max_len - w.lengths[source] + ends - 1]
    return Windows(cut(w.items), cut(w.types), cut(w.gaps), targets, ends, w.users[source],
                   cut(w.target_events) if w.target_events is not None else None, ends == w.lengths[source])
