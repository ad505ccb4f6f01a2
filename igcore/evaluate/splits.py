"""Leakage-safe splits of one log: leave-one-out per user, and one global time cutoff.

A split gives ``train`` (to fit), ``valid`` (later events: early stopping, then fed online before testing) and
``test`` (events to predict). Every event lands in exactly one of them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from igcore.events import Interactions


@dataclasses.dataclass(frozen=True)
class Split:
    name: str
    train: Interactions
    valid: Interactions
    test: Interactions
    info: dict

    @property
    def n_items(self) -> int:
        return self.train.n_items


def leave_one_out(data: Interactions) -> Split:
    """Each user's last event is the test target and the one before it the validation target; users with one
    event have only a test target, users with two no validation target. Ties in time keep arrival order."""
    pos = data.positions_in_user()
    counts = np.bincount(data.user, minlength=data.n_users)
    n = counts[data.user]
    is_test = pos == n - 1
    is_valid = (pos == n - 2) & (n >= 3)
    train = data.subset(~is_test & ~is_valid)
    return Split("loo", train, data.subset(is_valid), data.subset(is_test),
                 {"users": int((counts > 0).sum()), "test_cases": int(is_test.sum())})


def temporal_split(data: Interactions, valid_frac: float = 0.1, test_frac: float = 0.1) -> Split:
    """One cutoff for everyone: the first (1 - valid - test) share of events by time trains, the next share
    validates, the last tests. Events at a cutoff's exact second go to the later part, so no test event shares
    a timestamp with a training one. Items first seen after the training cutoff are counted."""
    if not len(data):
        raise ValueError("cannot split an empty log")
    t_valid = int(np.quantile(data.ts, 1.0 - valid_frac - test_frac, method="lower"))
    t_test = int(np.quantile(data.ts, 1.0 - test_frac, method="lower"))
    train, valid, test = data.ts < t_valid, (data.ts >= t_valid) & (data.ts < t_test), data.ts >= t_test
    seen_items = np.zeros(data.n_items, dtype=bool)
    seen_items[data.item[train]] = True
    seen_users = np.zeros(data.n_users, dtype=bool)
    seen_users[data.user[train]] = True
    info = {
        "cutoff_valid": t_valid, "cutoff_test": t_test,
        "test_events_new_item": int((~seen_items[data.item[test]]).sum()),
        "test_events_new_user": int((~seen_users[data.user[test]]).sum()),
        "items_new_after_cutoff": int(len(np.unique(data.item[(valid | test) & ~seen_items[data.item]]))),
    }
    return Split("temporal", data.subset(train), data.subset(valid), data.subset(test), info)
