"""Mixing fitted models at the score (igcore.evaluate.blend) on a log built by hand: exact scores, a replay that
asks the same questions, and a zero weight that measures as the base alone."""

from __future__ import annotations

import numpy as np
import pytest

from igcore.errors import IgcoreError
from igcore.evaluate.baselines import Markov, MostPop
from igcore.evaluate.blend import Blend, Recorded
from igcore.evaluate.protocols import EvalConfig, measure
from igcore.evaluate.splits import leave_one_out
from igcore.events import from_arrays
from igcore.ranking import standardise

ROWS = [("a", "x", 1), ("a", "y", 2), ("b", "x", 3), ("b", "y", 4), ("c", "x", 5), ("c", "z", 6), ("d", "x", 7)]


def _fitted():
    data = from_arrays(*zip(*ROWS))
    pop, markov = MostPop(), Markov()
    pop.fit(data)
    markov.fit(data)
    return data, pop, markov


def test_standardise_by_hand():
    out = standardise(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    assert out == pytest.approx(np.array([[-1.2247449, 0.0, 1.2247449], [0.0, 0.0, 0.0]]))


def test_blend_mixes_standardised_scores_by_weight():
    data, pop, markov = _fitted()
    d = np.array([int(np.flatnonzero(data.user_ids == "d")[0])])
    # Popularity x 4, y 2, z 1; after d's x, Markov's y 2/3, z 1/3: standardised, then mixed.
    assert Blend([pop], [1.0]).score(d)[0] == pytest.approx([1.3363062, -0.2672612, -1.0690450])
    assert Blend([pop, markov], [1.0, 0.5]).score(d)[0] == pytest.approx([0.7239325, 0.3451125, -1.0690450], abs=1e-5)
    assert np.argmax(Blend([pop, markov], [1.0, 2.0]).score(d)[0]) == 1  # enough of Markov puts y first
    with pytest.raises(IgcoreError, match="one weight per model"):
        Blend([pop, markov], [1.0])


def test_recorded_replays_the_same_answers_and_forwards_no_more_updates():
    data, _, markov = _fitted()
    rec = Recorded(markov)
    users = np.array([0, 3])
    first = rec.score(users).copy()
    rec.rewind()
    rec.update(data.subset(np.array([0])))  # a's x fed again: the model must not see it
    assert rec.model.score(users) == pytest.approx(first)
    assert rec.score(users) == pytest.approx(first)
    with pytest.raises(IgcoreError, match="more questions"):
        rec.score(users)
    rec.rewind()
    with pytest.raises(IgcoreError, match="different question"):
        rec.score(np.array([1]))


def test_a_zero_weight_measures_as_the_base_alone():
    data = from_arrays(*zip(*ROWS, ("a", "z", 8), ("b", "z", 9), ("c", "y", 10), ("d", "y", 11)))
    split = leave_one_out(data)
    config = EvalConfig("loo", exclude_seen=(True,), keep_ranks=True)
    fitted = []
    for model in (Markov(), MostPop()):
        model.fit(split.train, split.valid)
        fitted.append(Recorded(model))
    alone = Markov()
    alone.fit(split.train, split.valid)
    expected = measure(alone, split, config)
    recorded = measure(Blend(fitted, [1.0, 0.0]), split, config)
    for model in fitted:
        model.rewind()
    replayed = measure(Blend(fitted, [1.0, 0.0]), split, config)
    for result in (recorded, replayed):
        assert result["ranks"].tolist() == expected["ranks"].tolist()
        assert result["valid"]["ndcg@10"] == expected["valid"]["ndcg@10"]
