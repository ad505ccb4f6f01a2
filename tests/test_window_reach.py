"""bench/window_reach.py: where a test target lies in its user's history, counted exactly on a tiny log."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from igcore.events import from_arrays

SPEC = importlib.util.spec_from_file_location("window_reach", Path(__file__).parents[1] / "bench" / "window_reach.py")
window_reach = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(window_reach)


def test_targets_are_counted_in_the_window_further_back_or_new_to_the_user():
    # histories before the cases: u1 a b c d (a window of 2 holds c d), u2 a b, u3 e
    log = from_arrays(["u1"] * 4 + ["u2"] * 2 + ["u3"] + ["u1", "u2", "u3"],
                      ["a", "b", "c", "d", "a", "b", "e", "a", "b", "a"], [1, 2, 3, 4, 5, 6, 7, 10, 11, 12])
    history, cases = log.subset(log.ts < 10), log.subset(log.ts >= 10)
    out = window_reach.reach(history, cases, window=2)
    # u1 -> a: only beyond the window; u2 -> b: in it; u3 -> a: new to the user
    assert out == {"cases": 3, "median_history": 2.0, "history_longer_than_window": pytest.approx(1 / 3),
                   "target_in_window": pytest.approx(1 / 3), "target_only_beyond_window": pytest.approx(1 / 3),
                   "target_new_to_user": pytest.approx(1 / 3)}
