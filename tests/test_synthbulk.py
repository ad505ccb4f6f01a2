"""The generator at scale plants what the per-event generator plants: interests, the funnel, drift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from igcore.synth import SynthConfig
from igcore.synthbulk import generate_bulk, write_bulk

CONFIG = SynthConfig(seed=11, n_users=300, n_items=400, n_events=20_000)


def by_user(log) -> pd.DataFrame:
    """Events with their category, each user's in time order (ties: the log's order), and their index."""
    cats = dict(zip(log.items.item_id, log.items.category))
    e = log.events.assign(category=log.events.item_id.map(cats))
    e = e.sort_values(["user_id", "timestamp"], kind="stable")
    return e.assign(index=e.groupby("user_id").cumcount())


def test_the_same_config_gives_the_same_log_of_about_the_asked_size():
    a, b = generate_bulk(CONFIG), generate_bulk(CONFIG)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.drift, b.drift)
    assert 0.99 * CONFIG.n_events <= len(a.events) <= CONFIG.n_events
    assert a.events.user_id.nunique() == CONFIG.n_users
    assert np.all(np.diff(a.events.timestamp.to_numpy()) >= 0)


def test_the_funnel_carts_after_a_view_and_buys_after_a_cart_of_the_same_item():
    e = by_user(generate_bulk(CONFIG))
    prev_type = e.groupby("session_id").event_type.shift()
    prev_item = e.groupby("session_id").item_id.shift()
    carts, buys = e.event_type == "cart", e.event_type == "purchase"
    assert carts.sum() > 0 and buys.sum() > 0
    assert (prev_type[carts] == "view").all() and (prev_item[carts] == e.item_id[carts]).all()
    assert (prev_type[buys] == "cart").all() and (prev_item[buys] == e.item_id[buys]).all()


def test_drift_switches_to_a_category_the_user_never_had_at_the_planted_event():
    log = generate_bulk(CONFIG)
    e = by_user(log)
    assert len(log.drift) > 50
    for row in log.drift.itertuples():
        mine = e[e.user_id == row.user_id]
        at = mine[mine["index"] == row.event_index].iloc[0]
        assert at.category == row.new_category and at.timestamp == row.timestamp
        assert row.new_category not in set(mine.category[mine["index"] < row.event_index])
        assert row.old_category != row.new_category


def test_users_keep_to_at_most_four_interests_before_drift(tmp_path):
    log = generate_bulk(CONFIG)
    e = by_user(log)
    drift_at = dict(zip(log.drift.user_id, log.drift.event_index))
    before = e[e["index"] < e.user_id.map(drift_at).fillna(np.inf)]
    assert before.groupby("user_id").category.nunique().max() <= 4
    paths = write_bulk(log, tmp_path)
    assert pd.read_csv(paths["events"]).timestamp.iloc[0].endswith("Z")
    assert len(pd.read_csv(paths["drift"])) == len(log.drift)


def test_events_spread_over_the_whole_span_without_overlapping_visits():
    e = generate_bulk(CONFIG).events
    per_day = np.bincount((e.timestamp - e.timestamp.min()) // 86_400)
    assert len(per_day) == CONFIG.days and per_day[-1] >= 0.5 * np.median(per_day)
    visits = e.groupby(["user_id", "session_id"]).timestamp.agg(["min", "max"]).sort_values(["user_id", "min"])
    next_start = visits.groupby(level="user_id")["min"].shift(-1)
    assert (visits["max"] < next_start.fillna(np.inf)).all()
