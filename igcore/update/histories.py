"""Each user's events in time order, the sequence encoder's input: one (n, 3) int64 array per user whose
columns are the event's item, event type and time.

One array per user (not one per user and field) because appending is what an online update does for every user
its events touch: one concatenation per user instead of three. A large log still costs no Python object per
event. An array is replaced, never changed in place, when events are appended, so a copy of the list is a copy
of the histories (:meth:`Histories.copy`: what a fork takes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from igcore.events import Interactions, split_at

FIELDS = ("items", "types", "times")  # the columns, in order
_EMPTY = np.zeros((0, len(FIELDS)), dtype=np.int64)


def _rows(events: Interactions, order: np.ndarray) -> np.ndarray:
    """The events in ``order`` as (n, 3) rows of item, event type, time (filled column by column: no
    temporary of the whole log)."""
    out = np.empty((len(order), len(FIELDS)), dtype=np.int64)
    for j, values in enumerate((events.item, events.event_type, events.ts)):
        out[:, j] = values[order]
    return out


class Column(Sequence[np.ndarray]):
    """One field of every user's history: ``column[u]`` is a view of user u's rows (not a copy)."""

    def __init__(self, rows: list[np.ndarray], field: int) -> None:
        self._rows, self._field = rows, field

    def __getitem__(self, user: int) -> np.ndarray:  # type: ignore[override]
        return self._rows[user][:, self._field]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (rows[:, self._field] for rows in self._rows)


class Histories:
    """Every user's history (``rows[u]``: user u's (n, 3) rows, in time order); read a field through
    :meth:`column`."""

    def __init__(self, n_users: int) -> None:
        self.rows: list[np.ndarray] = [_EMPTY] * n_users

    @classmethod
    def of(cls, events: Interactions, n_users: int) -> Histories:
        """The histories of exactly ``events``."""
        out = cls(n_users)
        order = np.argsort(events.user, kind="stable")  # each user's events, in time order
        out.rows = split_at(_rows(events, order), np.searchsorted(events.user[order], np.arange(1, n_users)))
        return out

    def column(self, name: str) -> Column:
        return Column(self.rows, FIELDS.index(name))

    @property
    def n_events(self) -> int:
        return sum(len(r) for r in self.rows)

    def append(self, events: Interactions) -> None:
        """Add time-ordered ``events`` after each user's history."""
        order = np.argsort(events.user, kind="stable")  # each user's new events, in time order
        users, starts = np.unique(events.user[order], return_index=True)
        rows = self.rows
        for u, part in zip(users.tolist(), split_at(_rows(events, order), starts[1:])):
            rows[u] = np.concatenate([rows[u], part])

    def copy(self) -> Histories:
        """Histories that can be appended to without moving these (arrays are shared until replaced)."""
        twin = Histories(0)
        twin.rows = list(self.rows)
        return twin
