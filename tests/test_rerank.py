"""The popularity re-ranking against hand computations: identity at strength 0, less popular first among tied
scores, ascending popularity at a large strength; the --rerank flag and its row names (the child process:
tests/test_bench_quality.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from igcore.errors import IgcoreError
from igcore.evaluate.rerank import parse_rerank, popularity_penalty
from igcore.evaluate.rows import row_name
from igcore.ranking import top_k


def test_strength_zero_is_the_identity():
    scores = np.array([[0.3, -1.0, 2.0, 0.3], [5.0, 4.0, -np.inf, 1.0]])
    popularity = np.array([7.0, 0.0, 3.0, 1.0])
    assert popularity_penalty(scores, popularity, 0.0) is scores
    assert np.array_equal(top_k(popularity_penalty(scores, popularity, 0.0), 4), top_k(scores, 4))


def test_penalty_values_by_hand():
    # user scores 2 and 0: range 2; log(1 + 3) / log(1 + 3) = 1 for the most popular item: 2 - 0.5 * 2 * 1
    assert popularity_penalty(np.array([[2.0, 0.0]]), np.array([3.0, 0.0]), 0.5).tolist() == [[1.0, 0.0]]
    # an excluded (-inf) item stays excluded and does not count in the range; weights 1, log 4 / log 8 = 2/3, 0
    out = popularity_penalty(np.array([[-np.inf, 2.0, 0.0]]), np.array([7.0, 3.0, 0.0]), 0.5)
    assert out[0, 0] == -np.inf and out[0, 1:].tolist() == pytest.approx([2.0 - 0.5 * 2 * 2 / 3, 0.0])


def test_tied_scores_put_the_less_popular_first():
    tied = np.ones((1, 4))  # no range: the penalty is in score units
    popularity = np.array([5.0, 0.0, 9.0, 2.0])
    out = popularity_penalty(tied, popularity, 0.1)
    assert out[0].tolist() == pytest.approx([1 - 0.1 * math.log(6) / math.log(10), 1.0, 0.9,
                                             1 - 0.1 * math.log(3) / math.log(10)])
    assert top_k(out, 4).tolist() == [[1, 3, 0, 2]]


def test_a_large_strength_orders_by_ascending_popularity():
    scores = np.array([[4.0, 3.0, 2.0, 1.0], [0.1, 0.9, 0.5, 0.3]])
    popularity = np.array([9.0, 5.0, 2.0, 0.0])
    assert top_k(popularity_penalty(scores, popularity, 1000.0), 4).tolist() == [[3, 2, 1, 0], [3, 2, 1, 0]]
    assert top_k(popularity_penalty(scores, popularity, 0.01), 4).tolist() == [[0, 1, 2, 3], [1, 2, 3, 0]]


def test_the_rerank_flag_and_row_names():
    from igcore.cli import _parser

    assert parse_rerank("pop=0.5") == 0.5 and parse_rerank("pop=0") == 0.0
    for bad, message in (("div=1", "KIND one of pop"), ("0.5", "KIND one of pop"), ("pop=-1", "0 or more"),
                         ("pop=x", "0 or more"), ("pop=inf", "0 or more")):
        with pytest.raises(IgcoreError, match=message):
            parse_rerank(bad)
    args = _parser().parse_args(["bench", "quality", "--dataset", "d", "--rerank", "pop=0.25"])
    assert args.rerank == "pop=0.25"
    assert row_name("ItemKNN", pop_penalty=0.5) == "ItemKNN[rerank_pop=0.5]"
    assert row_name("SASRec", {"dim": "64"}, 600, 1.0) == "SASRec[budget=600,dim=64,rerank_pop=1]"
    assert row_name("ItemKNN") == "ItemKNN"  # no re-ranking: the default row

