"""Exposure beside accuracy, against hand computations: Gini of exposure, the long tail and APLT, mean popularity,
the activity groups' cut points and NDCG@10 per group, through the harness on a log built by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from igcore.evaluate.baselines import MostPop
from igcore.evaluate.exposure import TrainPopularity, exposure_counts, gini, long_tail
from igcore.evaluate.groups import activity_groups, describe, ndcg_by_group
from igcore.evaluate.metrics import RankAccumulator
from igcore.evaluate.protocols import EvalConfig, evaluate
from igcore.evaluate.splits import leave_one_out
from igcore.events import from_arrays


def test_gini_of_known_exposure_vectors():
    # sorted 0, 0, 1, 3: ordered pairs' absolute differences sum to 20; 2 * n^2 * mean = 32
    assert gini(np.array([3, 0, 1, 0])) == pytest.approx(20 / 32)
    assert gini(np.array([2, 2, 2, 2])) == 0.0  # everything shown equally often
    assert gini(np.array([0, 0, 0, 5])) == pytest.approx(3 / 4)  # one item takes every slot: (n - 1) / n
    assert gini(np.zeros(4)) is None and gini(np.zeros(0)) is None  # nothing exposed: nothing to measure


def test_the_head_is_the_most_popular_items_making_up_a_fifth_of_interactions():
    counts = np.arange(13)  # 78 interactions: 12 alone is under a fifth (15.6), 12 + 11 reaches it
    assert np.flatnonzero(~long_tail(counts)).tolist() == [11, 12]
    # a tie at the last head item is never split by id: both items of 5 are head, though one already reaches 4 of 20
    assert long_tail(np.array([3, 5, 2, 4, 1, 5])).tolist() == [True, False, True, True, True, False]
    assert long_tail(np.array([10, 0, 0])).tolist() == [False, True, True]
    assert long_tail(np.zeros(3)).tolist() == [True, True, True]  # no training interactions: all long tail


def test_exposure_of_top_10_lists_by_hand():
    """13 items of popularity 0..12; two users are shown items 12..3, one items 0..9."""
    acc = RankAccumulator(n_items=13)
    up, down = np.arange(13, dtype=np.float64), -np.arange(13, dtype=np.float64)
    acc.add(np.array([0, 1, 2]), np.stack([up, up, down]), np.array([12, 3, 0]))
    out = acc.summary(TrainPopularity.of(np.arange(13)))
    # exposure counts: items 0-2 once, 3-9 three times, 10-12 twice; sorted 1,1,1,2,2,2,3*7; sum 30
    assert exposure_counts(np.stack([np.arange(12, 2, -1)] * 2 + [np.arange(10)]), 13, 10).tolist() == \
        [1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2]
    # pair differences: 3*3*1 + 3*7*2 + 3*7*1 = 72 (144 ordered) over 2 * 13^2 * 30/13 = 780
    assert out["gini_exposure@10"] == pytest.approx(144 / 780)
    assert out["aplt@10"] == pytest.approx((0.8 + 0.8 + 1.0) / 3)  # head = {11, 12}: two of the upper lists' ten
    assert out["mean_pop@10"] == pytest.approx((75 + 75 + 45) / 30)
    assert out["ndcg@10"] == pytest.approx((1 + 1 / math.log2(11) + 1) / 3)  # ranks 1, 10, 1


def test_no_cases_measures_no_exposure():
    out = RankAccumulator(n_items=3).summary(TrainPopularity.of(np.array([1, 2, 3])))
    assert out["gini_exposure@10"] is None and out["aplt@10"] is None and out["mean_pop@10"] is None


def test_activity_groups_are_thirds_of_the_users_with_training_events():
    groups = activity_groups(np.array([0, 4, 1, 6, 2, 5, 3]))  # the user without training events is left out
    assert groups == ((0, 2, "light"), (3, 4, "medium"), (5, 10**12, "heavy"))
    assert describe(groups) == {"light": "0-2", "medium": "3-4", "heavy": "5+"}
    tied = activity_groups(np.array([3, 3, 3, 3, 5, 8]))  # two thirds of the users at 3: medium is empty
    assert tied == ((0, 3, "light"), (4, 3, "medium"), (4, 10**12, "heavy"))
    assert describe(tied) == {"light": "0-3", "medium": "", "heavy": "4+"}
    by_group = ndcg_by_group(np.array([1, 3, 20, 2]), np.array([1, 2, 6, 5]), groups)
    assert by_group == {"light": {"cases": 2, "ndcg@10": pytest.approx((1 + 0.5) / 2)},
                        "medium": {"cases": 0, "ndcg@10": None},
                        "heavy": {"cases": 2, "ndcg@10": pytest.approx((0 + 1 / math.log2(3)) / 2)}}


def hand_log():
    """Six users with 1..6 training events, then one validation and one test event each (leave-one-out).
    Everything before the test is item p, except one q early in the two heaviest users' histories; light
    users' test item is p, medium users' r (never seen), heavy users' q."""
    rows = []
    for n, user in enumerate("abcdef", start=1):
        history = (["q"] if n >= 5 else []) + ["p"] * (n - (1 if n >= 5 else 0)) + ["p"]  # training + validation
        target = "p" if n <= 2 else "r" if n <= 4 else "q"
        rows += [(user, item, 10 * n + k) for k, item in enumerate(history + [target])]
    users, items, ts = zip(*rows)
    return from_arrays(users, items, ts)


def test_ndcg_by_activity_group_and_exposure_through_the_harness():
    split = leave_one_out(hand_log())
    assert np.bincount(split.train.user).tolist() == [1, 2, 3, 4, 5, 6]
    result = evaluate(MostPop(), split, EvalConfig("loo", exclude_seen=(False,), pop_penalty=(0.0, 1000.0)))
    row = result["variants"]["nothing_excluded"]
    # MostPop after validation: p 25, q 2, r 0 -> p ranks 1, q 2, r 3
    assert (row["ndcg@10_light"], row["ndcg@10_medium"], row["ndcg@10_heavy"]) == \
        pytest.approx((1.0, 1 / math.log2(4), 1 / math.log2(3)))
    assert row["activity"] == {"light": {"cases": 2, "ndcg@10": 1.0, "history": "0-2"},
                               "medium": {"cases": 2, "ndcg@10": pytest.approx(0.5), "history": "3-4"},
                               "heavy": {"cases": 2, "ndcg@10": pytest.approx(1 / math.log2(3)), "history": "5+"}}
    # training popularity p 19, q 2, r 0: p alone is the head; every list is p, q, r
    assert (row["gini_exposure@10"], row["aplt@10"], row["mean_pop@10"]) == pytest.approx((0.0, 2 / 3, 7.0))
    # a large popularity penalty turns the order around: r, q, p
    assert result["reranked"][0.0] == result["variants"]
    flipped = result["reranked"][1000.0]["nothing_excluded"]
    assert (flipped["ndcg@10_light"], flipped["ndcg@10_medium"], flipped["ndcg@10_heavy"]) == \
        pytest.approx((1 / math.log2(4), 1.0, 1 / math.log2(3)))
    assert flipped["mean_pop@10"] == pytest.approx(7.0) and flipped["aplt@10"] == pytest.approx(2 / 3)
