"""The shop log generator at scale: the same catalogue, interests, funnel and drift as :mod:`igcore.synth`,
drawn with array operations so that ten million events take seconds, not the per-event loop's hour.

What it plants, per user: 1-4 interests (categories) with Dirichlet weights; visits (sessions) of 1-7 item views,
each view followed by a cart with ``p_cart`` and a purchase of a carted item with ``p_purchase``; items drawn by
their Zipf popularity within the visit's category; for a ``drift_share`` of users with at least 30 events, one
interest replaced by a new one at a drawn visit, which browses the new interest (the ground truth is returned).
What it leaves out of :mod:`igcore.synth`: re-buys of consumables. Visits of a user never overlap and spread
over ``days``. The same config gives the same log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from igcore.synth import CATALOGUE, SynthConfig, make_catalogue


@dataclasses.dataclass(frozen=True)
class BulkLog:
    events: pd.DataFrame  # user_id, item_id, event_type, timestamp (seconds), session_id; in time order
    items: pd.DataFrame  # item_id, title, category, brand, price, description
    drift: pd.DataFrame  # user_id, event_index, timestamp, old_category, new_category


def generate_bulk(config: SynthConfig) -> BulkLog:
    """A log of about ``config.n_events`` events (each user's count is drawn as in :mod:`igcore.synth`, then
    cut at the visit that reaches it)."""
    rng = np.random.default_rng(config.seed)
    items, by_cat, pop = make_catalogue(config, rng)
    n_cats, u = len(CATALOGUE), config.n_users
    activity = rng.lognormal(0.0, 0.8, u)
    per_user = rng.multinomial(config.n_events, activity / activity.sum())
    # Interests: k per user, distinct categories, Dirichlet weights; the cumulative weights pick each visit's.
    k = rng.choice([1, 2, 3, 4], p=[0.3, 0.35, 0.2, 0.15], size=u)
    order = np.argsort(rng.random((u, n_cats)), axis=1)  # a random permutation of the categories per user
    alpha = np.where(np.arange(4)[None] < k[:, None], 2.0, 1e-9)
    weights = rng.gamma(alpha)
    weights /= weights.sum(axis=1, keepdims=True)
    # Visits: enough for each user's count (at least one event each); a visit has 4 views and 4 x this events
    # on average.
    per_view = 1.0 + config.p_cart * (1.0 + config.p_purchase)
    expected = per_user / (4.0 * per_view)
    visits = np.ceil(expected * 1.3 + 1).astype(np.int64)
    v_user = np.repeat(np.arange(u), visits)
    v_no = np.arange(len(v_user)) - np.repeat(np.cumsum(visits) - visits, visits)
    cumulative = np.cumsum(weights, axis=1)
    slot = (rng.random(len(v_user))[:, None] > cumulative[v_user]).sum(axis=1).clip(0, 3)
    # Drift: one slot's category is replaced by one the user had none of (the permutation's 5th entry) from a
    # drawn visit on; that visit browses the new interest.
    drifts = (per_user >= 30) & (rng.random(u) < config.drift_share)
    drift_visit = np.where(drifts, (expected * rng.uniform(0.35, 0.75, u)).astype(np.int64), -1)
    old_slot = (rng.random(u)[:, None] > cumulative).sum(axis=1).clip(0, 3)
    after = drifts[v_user] & (v_no >= drift_visit[v_user])
    slot = np.where(after & (v_no == drift_visit[v_user]), old_slot[v_user], slot)
    category = np.where(after & (slot == old_slot[v_user]), order[v_user, 4], order[v_user, slot])
    # Views: 1-7 per visit, items by popularity within the category.
    views = rng.integers(1, 8, size=len(v_user))
    w_visit = np.repeat(np.arange(len(v_user)), views)
    w_first = np.r_[True, w_visit[1:] != w_visit[:-1]]
    w_cat = category[w_visit]
    item = np.empty(len(w_visit), dtype=np.int64)
    for c in range(n_cats):
        at = np.flatnonzero(w_cat == c)
        item[at] = np.asarray(by_cat[c])[rng.choice(len(by_cat[c]), size=len(at), p=pop[c])]
    # The funnel: each view, then maybe a cart, then maybe a purchase, as consecutive events of the visit.
    cart = rng.random(len(w_visit)) < config.p_cart
    buy = cart & (rng.random(len(w_visit)) < config.p_purchase)
    steps = 1 + cart + buy
    e_view = np.repeat(np.arange(len(w_visit)), steps)
    e_step = np.arange(len(e_view)) - _starts(steps)
    e_visit = w_visit[e_view]
    e_user = v_user[e_visit]
    rank = np.arange(len(e_user)) - _starts(np.bincount(e_user, minlength=u))  # the event's index in its user
    keep = rank < per_user[e_user]
    # Times: a user's visits in order, each at a random point of its own equal share of the span where it ends
    # before the next share begins (so visits never overlap); events 5-120 s apart within a visit (a purchase a
    # few minutes after its cart).
    used = np.zeros(u, dtype=np.int64)
    np.maximum.at(used, e_user[keep], v_no[e_visit[keep]] + 1)
    gap = rng.uniform(5, 120, len(e_view)) + np.where(e_step == 2, 200.0, 0.0)
    running = np.cumsum(gap)
    first = _starts(np.bincount(e_visit, minlength=len(v_user)))  # each event's visit's first event
    offset = running - running[first] + gap[first]
    duration = np.bincount(e_visit, weights=gap, minlength=len(v_user))
    share = config.days * 86400.0 / np.maximum(used, 1)[v_user]
    start = v_no * share + rng.random(len(v_user)) * np.maximum(share - duration - 60.0, 0.0)
    t0 = dt.datetime.fromisoformat(config.start).replace(tzinfo=dt.UTC).timestamp()
    ts = (t0 + start[e_visit] + offset).astype(np.int64)
    kinds = np.array(["view", "cart", "purchase"], dtype=object)
    cats = np.array(list(CATALOGUE), dtype=object)
    ids = np.array([row[0] for row in items], dtype=object)
    width = max(5, len(str(u)))
    events = pd.DataFrame({"user_id": _ids("U", e_user[keep], width), "item_id": ids[item[e_view[keep]]],
                           "event_type": kinds[e_step[keep]], "timestamp": ts[keep],
                           "session_id": _ids("S", e_visit[keep], max(7, len(str(len(v_user)))))})
    events = events.sort_values(["timestamp", "user_id"], kind="stable", ignore_index=True)
    first = keep & w_first[e_view] & (e_step == 0) & drifts[e_user] & (v_no[e_visit] == drift_visit[e_user])
    du = e_user[first]
    drift = pd.DataFrame({"user_id": _ids("U", du, width), "event_index": rank[first], "timestamp": ts[first],
                          "old_category": cats[order[du, old_slot[du]]], "new_category": cats[order[du, 4]]})
    catalogue = pd.DataFrame(items, columns=["item_id", "title", "category", "brand", "price", "description"])
    return BulkLog(events, catalogue, drift)


def write_bulk(log: BulkLog, out_dir: str | Path) -> dict[str, Path]:
    """``events.csv`` (plain: the large file is read fastest uncompressed), ``items.csv``, ``drift_truth.csv``;
    timestamps as ISO-8601 UTC, as :func:`igcore.synth.write` writes them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"events": out / "events.csv", "items": out / "items.csv", "drift": out / "drift_truth.csv"}
    iso = lambda s: pd.to_datetime(s, unit="s", utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    log.events.assign(timestamp=iso(log.events["timestamp"])).to_csv(paths["events"], index=False)
    log.items.to_csv(paths["items"], index=False)
    log.drift.assign(timestamp=iso(log.drift["timestamp"])).to_csv(paths["drift"], index=False)
    return paths


def _starts(counts: np.ndarray) -> np.ndarray:
    """For groups of ``counts`` consecutive rows, each row's group start (to subtract for in-group indexes)."""
    return np.repeat(np.cumsum(counts) - counts, counts)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix`` + the 1-based number, zero-padded to ``width`` digits (U00001 as :mod:`igcore.synth`)."""
    return np.char.add(prefix, np.char.zfill((numbers + 1).astype(str), width)).astype(object)
