"""The interest graph read from the model's own state (igcore.decode.track, igcore.interests.model_graph): the
nodes are the decoder's slots at the time shown, each recommendation is attributed exactly to the slot that won
its score, and slot identity holds over time. Tiny logs and a real store built here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from igcore.decode.interests import InterestExtractor
from igcore.decode.track import InterestTrack, coactivation, slot_transitions, track_windows
from igcore.errors import IgcoreError
from igcore.events import from_arrays
from igcore.ingest import import_items
from igcore.interests.config import InterestConfig
from igcore.interests.model_graph import METHOD, event_codes, model_graph, shown_graph
from igcore.interests.scoring import ModelScorer
from igcore.interests.text import graph_text
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.model import IgcoreRecommender
from igcore.store import Store

TINY = PipelineConfig(dim=16, max_len=6, epochs=2, eval_every=1, batch_size=16, memory_dim=8, time_dim=4,
                      device="cpu", dropout=0.0, interests=3, use_text=False, memory_batch=4, gnn_layers=2)


def _log():
    """Users walk one of three five-item categories in order (u % 3); u00 walks its category 14 times."""
    users, items, ts = [], [], []
    for u in range(9):
        for k in range(14 if u == 0 else 7):
            users.append(f"u{u:02d}")
            items.append(f"i{(u % 3) * 5 + (u + k) % 5:02d}")
            ts.append(1_700_000_000 + 60 * (k * 9 + u))
    return from_arrays(users, items, ts)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    log = _log()
    model = IgcoreRecommender(TINY)
    model.fit(log)
    folder = tmp_path_factory.mktemp("model_graph")
    (folder / "items.csv").write_text("item_id,title,category\n" + "".join(
        f"i{i:02d},Thing {i},{['Tea', 'Garden', 'Running'][i // 5]}\n" for i in range(15)))
    with Store(folder / "s.duckdb") as store:
        import_items(store, folder / "items.csv")
    return model, log, folder / "s.duckdb"


def test_track_windows_give_every_event_half_a_window_of_context():
    assert track_windows(0, 6) == []
    assert track_windows(4, 6) == [(0, 4)]
    assert track_windows(14, 6) == [(0, 6), (6, 9), (9, 12), (12, 14)]
    assert track_windows(15, 6) == [(0, 6), (6, 9), (9, 12), (12, 15)]


def test_edges_and_the_events_that_formed_a_slot():
    routes = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    weights = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    # event 0 -> 1 goes slot 0 -> 1 wholly; event 1 -> 2 goes slot 1 -> half to each (self-loops dropped)
    assert slot_transitions(routes).tolist() == [[0.0, 1.0], [0.5, 0.0]]
    # both slots held at events 1 and 2 (0.5 * 0.5 each), averaged over the three events
    assert coactivation(weights) == pytest.approx(np.array([[0.0, 0.5 / 3], [0.5 / 3, 0.0]]))
    track = InterestTrack(np.array([4, 5, 6]), np.zeros(3, dtype=np.int64), np.arange(3.0), np.zeros((3, 2, 1)),
                          weights, routes)
    # slot 0 at event 2 (half life 1): event 0 routes 1.0 at age 2 -> 0.25; event 2 routes 0.5 at age 0 -> 0.5
    assert track.formed_by(2, 0, 1.0, 5).tolist() == [2, 0]
    assert track.event_slots().tolist() == [0, 1, 0]


def test_an_events_code_is_the_catalogue_interest_its_slot_stood_for():
    table = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])  # items 0, 1: interest 0; 2, 3: interest 1
    codes = np.array([0, 0, 1, -1])  # item 3 belongs to none: it does not vote
    x, y = [1.0, 0.0], [0.0, 1.0]
    vectors = np.array([[x, y], [x, y], [x, x]])  # slot 1 moves to interest 0's content at event 2
    routes = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]])
    track = InterestTrack(np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64), np.arange(3.0), vectors,
                          np.full((3, 2), 0.5), routes)
    routed = track.event_slots()
    assert event_codes(track, table, codes, routed, k=2).tolist() == [0, 1, 0]
    assert event_codes(track, table, np.full(4, -1), routed, k=2).tolist() == [-1, -1, -1]


def test_an_event_belongs_to_the_slot_that_scores_its_item_highest_after_it():
    table = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])  # items 0, 1: interest 0; 2, 3: interest 1
    codes = np.array([0, 0, 1, 1])
    x, y = [1.0, 0.0], [0.0, 1.0]
    vectors = np.array([[x, y], [x, y], [y, y], [y, x]])  # at event 2 both slots hold interest 1 (a tie)
    routes = np.full((4, 2), 0.5)  # the routing takes no side: the score decides
    track = InterestTrack(np.array([1, 2, 3, 0]), np.zeros(4, dtype=np.int64), np.arange(4.0), vectors,
                          np.full((4, 2), 0.5), routes)
    assert track.claiming_slots(table).tolist() == [0, 1, 0, 1]
    assert event_codes(track, table, codes, k=2).tolist() == [0, 1, 1, 0]


def test_slot_overlap_is_the_mean_squared_cosine_between_distinct_slots():
    e1, e2, diag = [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]
    assert InterestExtractor.overlap(torch.tensor([[e1, e2]])).item() == pytest.approx(0.0)
    assert InterestExtractor.overlap(torch.tensor([[e1, [3.0, 0.0]]])).item() == pytest.approx(1.0)
    assert InterestExtractor.overlap(torch.tensor([[e1, diag], [e1, e2]])).item() == pytest.approx(0.25)


def test_interests_at_the_last_position_alone_equal_the_last_of_all_positions():
    torch.manual_seed(0)
    extractor = InterestExtractor(8, 3, 5.0).eval()
    hidden = torch.randn(4, 6, 8)
    real = torch.tensor([[0, 0, 1, 1, 1, 1], [1] * 6, [0] * 5 + [1], [0, 1, 1, 1, 1, 1]], dtype=torch.bool)
    with torch.no_grad():
        every, every_w = extractor(hidden, real)
        last, last_w = extractor(hidden, real, last=True)
    assert last.shape == (4, 1, 3, 8) and last_w.shape == (4, 1, 3)
    torch.testing.assert_close(last, every[:, -1:], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(last_w, every_w[:, -1:], rtol=1e-6, atol=1e-6)


def test_the_diversity_penalty_pulls_slots_apart():
    log = _log()
    overlap = {}
    for weight in (0.0, 1.0):
        model = IgcoreRecommender(TINY, interest_diversity=weight, epochs=6)
        model.fit(log)
        queries, _ = model.interest_state(np.arange(log.n_users))
        overlap[weight] = InterestExtractor.overlap(torch.as_tensor(queries)).item()
    assert overlap[1.0] < overlap[0.0] - 0.1, overlap  # the pooled states share much: slots start alike


def test_the_track_ends_at_the_models_current_interests(trained):
    model, log, _ = trained
    tracks = model.interest_tracks([0, 4])
    queries, weights = model.interest_state(np.array([0, 4]))
    assert [len(t) for t in tracks] == [14, 7]
    for r, track in enumerate(tracks):
        assert np.allclose(track.vectors[-1], queries[r], atol=1e-5)
        assert np.allclose(track.weights[-1], weights[r], atol=1e-5)
        assert np.allclose(track.weights.sum(1), 1.0, atol=1e-5) and np.allclose(track.routes.sum(1), 1.0, atol=1e-5)
    assert tracks[0].items.tolist() == [k % 5 for k in range(14)]  # u00's walk over i00..i04


def test_the_model_graph_is_the_models_state_and_explains_the_score_that_ranks(trained):
    model, log, db = trained
    scorer = ModelScorer(model, log.user_ids, log.item_ids, name="igcore")
    with Store(db, read_only=True) as store:
        graph = model_graph(store, scorer, "u00")
    _, weights = model.interest_state(np.array([0]))
    assert graph.kinds == ["model"] and graph.n_events == 14
    assert sorted(n["interest"] for n in graph.nodes) == ["slot:0", "slot:1", "slot:2"]
    assert [n["share"] for n in graph.nodes] == pytest.approx(sorted(weights[0], reverse=True), abs=1e-6)
    assert all(n["label"].split(" · ")[0] in {"Tea", "Garden", "Running"} for n in graph.nodes)
    assert len({n["label"] for n in graph.nodes}) == 3  # two slots on one interest are named apart
    assert all(len(n["top_items"]) == InterestConfig().top_items for n in graph.nodes)
    assert all(0.1 <= n["purity"] <= 1.0 for n in graph.nodes)
    scores = model.score(np.array([0]))[0]
    scores[[0, 1, 2, 3, 4]] = -np.inf  # seen items are left out
    assert [r["item_id"] for r in graph.recommendations] == log.item_ids[np.argsort(-scores)[:10]].tolist()
    queries, _ = model.interest_state(np.array([0]))
    table = model.item_vectors()
    for r in graph.recommendations:
        why = r["explanation"]
        j = int(np.flatnonzero(log.item_ids == r["item_id"])[0])
        best = int((queries[0] @ table[j]).argmax())
        assert r["interest"] == f"slot:{best}" and why["method"] == METHOD
        assert sum(p["contribution"] for p in why["interests"]) == pytest.approx(r["score"], rel=1e-6)
        assert why["interests"][0]["contribution"] == pytest.approx(float(queries[0, best] @ table[j]), rel=1e-5)
        assert sum(e["contribution"] for e in why["events"]) == pytest.approx(why["interests"][0]["contribution"])
    text = graph_text(graph)
    assert "slot:" in text and "recommendations (igcore)" in text


def test_the_model_graph_moves_only_for_the_touched_user(trained):
    model, log, db = trained
    twin = model.fork(np.array([0]))
    scorer = ModelScorer(twin, log.user_ids, log.item_ids, name="igcore")
    with Store(db, read_only=True) as store:
        before = [model_graph(store, scorer, u) for u in ("u00", "u01")]
        late = int(log.ts.max()) + 60
        twin.update(dataclasses.replace(log.subset(np.array([0, 1])), user=np.array([0, 0]),
                                        item=np.array([10, 11]), ts=np.array([late, late + 60])))
        after = [model_graph(store, scorer, u) for u in ("u00", "u01")]
    assert after[0].n_events == 16 and after[0].nodes != before[0].nodes
    assert after[1].nodes == before[1].nodes  # slot identity and state of an untouched user hold


def test_a_model_without_slots_or_a_stranger_says_so(trained, tmp_path):
    model, log, db = trained
    with Store(db, read_only=True) as store:
        with pytest.raises(IgcoreError, match="does not know user"):
            model_graph(store, ModelScorer(model, log.user_ids, log.item_ids), "nobody")
        plain = IgcoreRecommender(TINY, interests=0)
        plain.fit(log)
        with pytest.raises(IgcoreError, match="no interest slots"):
            model_graph(store, ModelScorer(plain, log.user_ids, log.item_ids), "u00")
        # what the pages show: the slots when the model has them and knows the user, else the observed graph
        assert shown_graph(store, "u00", ModelScorer(model, log.user_ids, log.item_ids)).kinds == ["model"]
        with pytest.raises(IgcoreError, match="has no events"):  # observed: this store holds no events
            shown_graph(store, "u00", ModelScorer(plain, log.user_ids, log.item_ids))
