"""Fixed-width windows over users' histories: the sequence encoder's input, with next-item targets to train.

Windows are left-padded and 1-based (0 pads): the last column is each user's latest event. A training window's
inputs are a history's events[:-1] and its targets events[1:]; ``target_events`` is each target's index in the
training log, by which a position finds the memory its user had before that event. :func:`prefix_windows` cuts
a training window into one row per target (``PipelineConfig.samples``).

Training gathers its rows batch by batch (:class:`TrainingRows`) from the training log's columns grouped by user:
the windows of every user at once would grow with the number of users (as prefixes, with the number of
training events) times ``max_len``; a batch's rows grow with the batch only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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

    def take(self, rows: np.ndarray) -> Windows:
        """The given rows (repeats allowed)."""
        pick = lambda a: a[rows] if a is not None else None  # noqa: E731
        return Windows(self.items[rows], self.types[rows], self.gaps[rows], self.targets[rows], self.lengths[rows],
                       self.users[rows], pick(self.target_events), pick(self.final))

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


def length_chunks(lengths: np.ndarray, rows: int, positions: int) -> list[np.ndarray]:
    """Indexes into ``lengths`` (windows' lengths) in chunks of similar length, shortest first: each chunk has
    at most ``rows`` rows and, cut to its longest row (:meth:`Windows.batch`), at most ``positions`` positions
    (a chunk has one row at least), so that short histories are not padded to a long one's length."""
    order = np.argsort(lengths, kind="stable")
    width = np.maximum(np.asarray(lengths)[order], 1)
    out, lo = [], 0
    while lo < len(order):
        ahead = width[lo:lo + rows]  # a chunk of the next k rows is k times its k-th width, which grows with k
        k = max(1, int(np.count_nonzero(np.arange(1, len(ahead) + 1) * ahead <= positions)))
        out.append(order[lo:lo + k])
        lo += k
    return out


@dataclasses.dataclass(frozen=True)
class TrainingRows:
    """The training rows of every user with a target, gathered per batch from the training log's columns grouped
    by user: one row per user (its window: inputs events[:-1], targets events[1:], the last ``max_len``) or, as
    prefixes, one per target of that window (the inputs before it, the target at the last position only; every
    input keeps its item, type, gap and target event). Row r ends at the target ``last[r]`` (an index into the
    grouped columns) and holds ``lengths[r]`` inputs. :meth:`take` of every row equals :func:`training_windows`
    (and, as prefixes, :func:`prefix_windows` of it)."""

    items: np.ndarray  # the log's columns, each user's events together in time order
    types: np.ndarray
    gaps: np.ndarray
    by_user: np.ndarray  # index in the log of each grouped event
    users: np.ndarray  # per row
    last: np.ndarray
    lengths: np.ndarray
    final: np.ndarray  # the row ends at its user's last training target
    prefixes: bool
    max_len: int

    @property
    def positions(self) -> int:
        """Training targets in all rows (a prefix has one)."""
        return self.positions_in(np.arange(len(self.lengths)))

    def positions_in(self, rows: np.ndarray) -> int:
        """Training targets in ``rows``."""
        return len(rows) if self.prefixes else int(self.lengths[rows].sum())

    def of_users(self, owns: Callable[[np.ndarray], np.ndarray]) -> TrainingRows:
        """The rows of the users for whom ``owns`` (a mask of user indices) is true."""
        keep = owns(self.users)
        if keep.all():
            return self
        return dataclasses.replace(self, users=self.users[keep], last=self.last[keep], lengths=self.lengths[keep],
                                   final=self.final[keep])

    def take(self, rows: np.ndarray) -> Windows:
        last, k = self.last[rows], self.lengths[rows]
        column = np.arange(self.max_len)[None]
        real = column >= self.max_len - k[:, None]
        source = np.where(real, last[:, None] - self.max_len + column, 0)  # each input's grouped index

        def at(values: np.ndarray, offset: int = 0, plus: int = 0) -> np.ndarray:
            return np.where(real, values[source + offset] + plus, 0)

        targets = at(self.items, offset=1, plus=1)
        if self.prefixes:
            targets[:, :-1] = 0
        return Windows(at(self.items, plus=1), at(self.types, plus=1), at(self.gaps), targets, k, self.users[rows],
                       at(self.by_user, offset=1), self.final[rows])

    def batch(self, rows: np.ndarray, device: torch.device | str) -> WindowBatch:
        return self.take(rows).batch(slice(None), device)


def training_rows(train: Interactions, max_len: int, n_gap_buckets: int, prefixes: bool = False) -> TrainingRows:
    """The training rows of ``train``, one per user or per target, built per batch (:class:`TrainingRows`)."""
    by_user = np.argsort(train.user, kind="stable")
    sizes = np.bincount(train.user, minlength=train.n_users)
    ends = np.cumsum(sizes)  # one past each user's last grouped event
    gaps = gap_buckets(train.ts[by_user], n_gap_buckets)
    gaps[ends[sizes > 0] - sizes[sizes > 0]] = n_gap_buckets  # a user's first event has no previous one
    users = np.flatnonzero(sizes >= 2)
    lengths = np.minimum(sizes[users] - 1, max_len)
    last, final = ends[users] - 1, np.ones(len(users), dtype=bool)
    if prefixes:
        source, cut = _prefixes(lengths)
        users, last, final = users[source], last[source] - lengths[source] + cut, cut == lengths[source]
        lengths = cut
    return TrainingRows(train.item[by_user].astype(np.int64), train.event_type[by_user].astype(np.int64), gaps,
                        by_user, users, last, lengths, final, prefixes, max_len)


def training_windows(train: Interactions, max_len: int, n_gap_buckets: int) -> Windows:
    """Every user's training window at once, with each target's index in ``train`` (training gathers them per
    batch: :class:`TrainingRows`)."""
    rows = training_rows(train, max_len, n_gap_buckets)
    return rows.take(np.arange(len(rows.users)))


def prefix_windows(w: Windows) -> Windows:
    """One row per target of the training windows ``w``: the window cut to end at that target's position (the
    inputs before it, left-padded again), the target at the last position only. Every input keeps what it had in
    ``w`` (item, type, gap, target event); positions count from the end, so each prefix is read with its target
    next, at the last position, the way scoring reads a user. The row of a window's last target is ``final``
    (the window itself)."""
    max_len = w.items.shape[1]
    source, ends = _prefixes(w.lengths)  # the window each prefix is cut from, its length
    column = np.arange(max_len)[None] - w.lengths[source][:, None] + ends[:, None]  # the window's column
    real = np.arange(max_len)[None] >= max_len - ends[:, None]

    def cut(a: np.ndarray) -> np.ndarray:
        return np.where(real, a[source[:, None], column.clip(0, max_len - 1)], 0)

    targets = np.zeros((len(source), max_len), dtype=np.int64)
    targets[:, -1] = w.targets[source, max_len - w.lengths[source] + ends - 1]
    return Windows(cut(w.items), cut(w.types), cut(w.gaps), targets, ends, w.users[source],
                   cut(w.target_events) if w.target_events is not None else None, ends == w.lengths[source])


def _prefixes(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the row each prefix is cut from, its number of targets): one prefix per target of rows of ``lengths``."""
    source = np.repeat(np.arange(len(lengths)), lengths)
    return source, np.arange(len(source)) - np.repeat(np.cumsum(lengths) - lengths, lengths) + 1
