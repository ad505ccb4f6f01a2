"""The graph stage at the score (igcore.embed.cooccur, igcore.recommend.mix, igcore.pipeline.scored_graph): the
co-occurrence graph by hand, its term in the score that ranks, its weight chosen on validation, served and
saved alike, rebuilt as events come, and named in the explanation. Tiny logs built here, exact values."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from igcore.embed.cooccur import cooccurrence, graph_scores, latest_items, linked_by
from igcore.evaluate.runner import graph_off
from igcore.interests.model_graph import model_graph
from igcore.interests.scoring import ModelScorer
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.model import IgcoreRecommender
from igcore.ranking import standardise
from igcore.recommend.mix import GRAPH_WEIGHTS, graph_term, with_graph
from igcore.recommend.serving import load_serving
from igcore.store import Store
from tests.test_model_interests import TINY as WITH_INTERESTS
from tests.test_model_interests import _log, trained  # noqa: F401 - the module's fixture, used below

TINY = PipelineConfig(dim=16, max_len=6, epochs=2, eval_every=1, batch_size=16, memory_dim=8, time_dim=4,
                      device="cpu", dropout=0.0, use_text=False, memory_batch=4, samples="positions")


def test_the_cooccurrence_graph_by_hand():
    # a: x y; b: x y; c: x z (x twice: a user counts once). x has 3 users, y 2, z 1.
    users, items = np.array([0, 0, 1, 1, 2, 2, 2]), np.array([0, 1, 0, 1, 0, 2, 0])
    graph = cooccurrence(users, items, 3, 3).toarray()
    xy, xz = 2 / math.sqrt(3 * 2), 1 / math.sqrt(3 * 1)
    assert graph == pytest.approx(np.array([[0, xy, xz], [xy, 0, 0], [xz, 0, 0]]), abs=1e-8)
    assert cooccurrence(users, items, 3, 3, neighbours=1).toarray()[0] == pytest.approx([0, xy, 0], abs=1e-8)
    # a user's latest events, latest first: c chose x, z, x -> [x, z] with two; a user without events: none
    latest = latest_items([[0, 1], [], [0, 2, 0]], [2, 1], recent=2)
    assert latest.tolist() == [[0, 2], [-1, -1]]
    scores = graph_scores(cooccurrence(users, items, 3, 3), latest, decay=0.5)
    assert scores[0] == pytest.approx(graph[0] + 0.5 * graph[2], abs=1e-9) and not scores[1].any()
    # y's score for c comes from x alone (z has no link to y); x's from z, at the decay
    assert linked_by(cooccurrence(users, items, 3, 3), latest[0], 1, decay=0.5) == [(0, pytest.approx(xy))]
    assert linked_by(cooccurrence(users, items, 3, 3), latest[0], 0, decay=0.5) == [(2, pytest.approx(xz / 2))]


def test_the_graph_term_ranks_as_the_standardised_sum_and_weight_zero_as_the_head():
    head = np.array([[1.0, 2.0, 3.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    graph = np.array([[0.0, 3.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    term = graph_term(head, graph, 0.5)
    assert term[0] == pytest.approx(0.5 * head[0].std() * standardise(graph)[0])
    assert not term[1].any()  # a user the graph says nothing about keeps the head's scores
    mixed = with_graph(head, graph, 0.5)
    assert np.argsort(-mixed[0]).tolist() == np.argsort(-(standardise(head) + 0.5 * standardise(graph))[0]).tolist()
    assert np.array_equal(with_graph(head, graph, 0.0), head)


@pytest.fixture(scope="module")
def fitted():
    log = _log()
    last = np.zeros(len(log), dtype=bool)
    last[[np.flatnonzero(log.user == u).max() for u in range(log.n_users)]] = True
    model = IgcoreRecommender(TINY, epochs=3)
    model.fit(log.subset(~last), log.subset(last))
    return model, log.subset(~last)


def test_the_weight_is_chosen_on_validation_and_the_score_that_ranks_is_the_head_plus_the_graph(fitted):
    model, train = fitted
    stage = model.scored_graph
    assert sorted(model.graph_choice) == sorted(GRAPH_WEIGHTS)
    best = max(model.graph_choice.values())
    assert stage.weight == min(w for w, v in model.graph_choice.items() if v == best)
    users = np.arange(model.n_users)
    head, graph = model.score_parts(users)
    by_hand = graph_scores(cooccurrence(train.user, train.item, train.n_users, train.n_items),
                           latest_items(model.state.items, users.tolist()))
    assert np.allclose(graph, graph_term(head, by_hand, stage.weight), atol=1e-6)
    assert np.array_equal(model.score(users), head + graph)
    # the network's scores are those without the graph; the graph's term at a weight is the same at every call
    fixed = IgcoreRecommender(TINY, epochs=3, use_graph=False)
    fixed.restore(train, {k: v for k, v in model.weights().items() if k != "graph.weight"})
    assert np.allclose(fixed.score(users), head, atol=1e-5)


def test_the_weight_is_saved_and_the_serving_state_scores_as_the_model(fitted, tmp_path):
    model, train = fitted
    users = np.arange(model.n_users)
    twin = IgcoreRecommender(TINY, epochs=3)
    twin.restore(train, model.weights())
    assert twin.scored_graph.weight == model.scored_graph.weight
    assert np.allclose(twin.score(users), model.score(users), atol=1e-5)
    forced = copy.copy(model)  # at a weight that surely moves the ranking
    forced.scored_graph = dataclasses.replace(model.scored_graph, weight=5.0)
    serving = forced.serving_state("k")
    assert np.allclose(serving.score(users), forced.score(users), atol=1e-4)
    serving.save(tmp_path / "s.safetensors")
    again = load_serving(tmp_path / "s.safetensors", "k")
    assert again.graph_weight == 5.0 and np.array_equal(again.latest, serving.latest)
    assert np.allclose(again.score(users), forced.score(users), atol=1e-4)


def test_the_graph_is_rebuilt_at_the_refresh_and_a_fork_keeps_its_parents(fitted):
    model, train = fitted
    model = copy.copy(model)
    model.state = model.state.fork(np.arange(model.n_users))
    before = model.scored_graph.built(model.state, model.n_items)
    x, y = 0, 14  # two items no user chose together: u00 chooses both now, in 1,000 events (a refresh)
    assert before[x, y] == 0
    n = model.cfg.graph_refresh
    new = dataclasses.replace(train, user=np.zeros(n, dtype=np.int64), item=np.tile([x, y], n // 2),
                              ts=int(train.ts.max()) + 60 + np.arange(n), event_type=np.zeros(n, dtype=np.int16))
    twin = model.fork(np.array([0]))
    params = [p.detach().clone() for p in model.net.parameters()]
    assert twin.update(new) is True
    after = twin.scored_graph.built(twin.state, twin.n_items)
    assert after[x, y] > 0 and model.scored_graph.graph is before  # the parent's graph stands
    assert all(torch.equal(p, q) for p, q in zip(params, twin.net.parameters()))  # no training


def test_the_explanation_names_the_graphs_term_and_the_items_that_made_it(trained, tmp_path):  # noqa: F811
    model, log, db = trained
    assert model.scored_graph is not None and model.cfg == WITH_INTERESTS
    forced = copy.copy(model)
    forced.scored_graph = dataclasses.replace(model.scored_graph, weight=1.0)
    with Store(db, read_only=True) as store:
        graph = model_graph(store, ModelScorer(forced, log.user_ids, log.item_ids, name="igcore"), "u00")
    head, term = forced.score_parts(np.array([0]))
    for r in graph.recommendations:
        j = int(np.flatnonzero(log.item_ids == r["item_id"])[0])
        parts = r["explanation"]["interests"]
        assert sum(p["contribution"] for p in parts) == pytest.approx(r["score"], rel=1e-5)
        assert r["score"] == pytest.approx(float(head[0, j] + term[0, j]), rel=1e-5)
        # the graph's term, named by the latest items linked to the item (its term is below the user's mean
        # where none is: the graph's scores are standardised)
        names = ", ".join(log.item_ids[i] for i, _ in forced.graph_links(0, j))
        label = f"(chosen together with {names})" if names else "(not chosen with the latest items)"
        assert [(p["label"], p["contribution"]) for p in parts[2:]] == [(label, pytest.approx(float(term[0, j])))]
        assert (float(term[0, j]) < 0) == (not names)


def test_a_fit_is_measured_with_its_graph_off_as_its_own_row(fitted):
    """The bench's ``[graph_weight=0]`` row: the same fit without the graph's term, which is what ``-no-graph``
    trains (the graph at the score trains nothing), for the cost of a second measurement."""
    model, train = fitted
    forced = copy.copy(model)
    forced.scored_graph = dataclasses.replace(model.scored_graph, weight=0.5)
    off = graph_off(forced)
    users = np.arange(model.n_users)
    assert off.scored_graph.weight == 0 and forced.scored_graph.weight == 0.5
    assert np.array_equal(off.score(users), forced.score_parts(users)[0])
    assert graph_off(off) is None and graph_off(object()) is None
    without = IgcoreRecommender(TINY, epochs=3, use_graph=False)
    without.fit(train)
    with_graph_model = IgcoreRecommender(TINY, epochs=3, graph_weight=0.5)
    with_graph_model.fit(train)
    assert all(torch.equal(a, b) for a, b in zip(without.net.parameters(), with_graph_model.net.parameters()))
