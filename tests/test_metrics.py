"""Ranking metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from igcore.evaluate.exposure import TrainPopularity
from igcore.evaluate.metrics import RankAccumulator, summarise
from igcore.ranking import target_ranks, top_k


def test_ranks_break_ties_against_the_target():
    scores = np.array([[0.9, 0.5, 0.5, 0.1],   # target 1 ties with item 2 -> rank 3
                       [0.2, 0.2, 0.2, 0.2],   # constant scores -> last
                       [0.1, 0.2, 0.3, 0.4]])  # target 3 best -> rank 1
    assert target_ranks(scores, np.array([1, 0, 3])).tolist() == [3, 4, 1]


def test_metrics_by_hand():
    out = summarise(np.array([1, 3, 11]), None, n_items=20)
    assert out["cases"] == 3
    assert out["hr@5"] == pytest.approx(2 / 3) and out["hr@10"] == pytest.approx(2 / 3)
    assert out["hr@20"] == pytest.approx(1.0)
    assert out["ndcg@10"] == pytest.approx((1 / math.log2(2) + 1 / math.log2(4)) / 3)
    assert out["ndcg@20"] == pytest.approx((1 + 0.5 + 1 / math.log2(12)) / 3)
    assert out["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 11) / 3)


def test_k_larger_than_catalogue():
    scores = np.array([[0.3, 0.2, 0.1]])
    acc = RankAccumulator(n_items=3)
    acc.add(np.array([0]), scores, np.array([2]))
    out = acc.summary()
    assert out["hr@5"] == out["hr@20"] == 1.0 and out["hr@10"] == 1.0
    assert out["ndcg@20"] == pytest.approx(1 / math.log2(4))
    assert out["coverage@20"] == 1.0 and top_k(scores, 20).tolist() == [[0, 1, 2]]


def test_single_event_user_and_empty_test_set():
    acc = RankAccumulator(n_items=4)
    acc.add(np.array([7]), np.array([[0.0, 1.0, 0.5, 0.2]]), np.array([1]))
    assert acc.summary()["mrr"] == 1.0
    empty = RankAccumulator(n_items=4).summary()
    assert empty["cases"] == 0 and empty["ndcg@10"] is None and empty["mrr"] is None


def test_coverage_and_mean_popularity():
    scores = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    acc = RankAccumulator(n_items=4)
    acc.add(np.array([0, 1]), scores, np.array([0, 3]))
    out = acc.summary(popularity=TrainPopularity.of(np.array([10.0, 0.0, 0.0, 2.0])))
    assert out["coverage@5"] == 1.0
    assert out["mean_pop@10"] == pytest.approx((10 + 0 + 0 + 2) * 2 / 8)
    assert out["gini_exposure@10"] == 0.0  # both lists show all four items
    assert out["aplt@10"] == pytest.approx(3 / 4)  # item 0 alone is the head (10 of 12 interactions)
