"""The model's own state: interest vectors decoded from the sequence, a TGN memory trained with the network.

Tiny logs built here, real torch and PyG modules: exact checks where a value is known by construction.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from igcore.decode.interests import InterestExtractor
from igcore.encode.item_encoder import ItemEncoder
from igcore.encode.sequence import gap_buckets
from igcore.errors import IgcoreError
from igcore.events import from_arrays
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.graphs import training_graph
from igcore.pipeline.model import IgcoreRecommender
from igcore.pipeline.replay import MemoryReplay, previous_events
from igcore.pipeline.samples import prefixes_pay, resolve_samples
from igcore.pipeline.trainer import batch_loss, rows_read, sampled_loss
from igcore.pipeline.windows import Windows, length_chunks, prefix_windows, training_rows, training_windows
from igcore.update.online import OnlineState

TINY = PipelineConfig(dim=16, max_len=8, epochs=2, eval_every=1, batch_size=16, memory_dim=8, time_dim=4,
                      device="cpu", dropout=0.0, source_dropout=0.0, interests=3, use_text=False, memory_batch=4,
                      gnn_layers=2, samples="positions", graph_on="users")  # the GNN's paths (test_scored_graph:
#                                                                                 the graph at the score)


def _planted(n_users: int = 12, per_user: int = 9, seed: int = 0):
    """Each user walks one of three categories of five items in order (u % 3), one event a minute."""
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    for u in range(n_users):
        start = int(rng.integers(5))
        for k in range(per_user):
            users.append(f"u{u:02d}")
            items.append(f"i{(u % 3) * 5 + (start + k) % 5:02d}")
            ts.append(1000 + 60 * (k * n_users + u))
    return from_arrays(users, items, ts)


def _last_events(log) -> np.ndarray:
    """Each user's last event (a validation set), as a mask over the log."""
    last = np.zeros(len(log.user), dtype=bool)
    last[[np.flatnonzero(log.user == u).max() for u in np.unique(log.user)]] = True
    return last


@pytest.fixture(scope="module")
def fitted():
    log = _planted()
    model = IgcoreRecommender(TINY)
    model.fit(log)
    return model, log


def test_previous_events_name_each_users_event_before():
    assert previous_events(np.array([0, 1, 0, 0, 1, 2, 0, 1])).tolist() == [-1, -1, 0, 2, 1, -1, 3, 4]


def test_interests_are_causal_and_their_weights_are_shares():
    torch.manual_seed(0)
    extractor = InterestExtractor(dim=8, k=3)
    hidden = torch.randn(2, 5, 8)
    real = torch.tensor([[False, True, True, True, True], [True, True, True, True, True]])
    vectors, weights = extractor(hidden, real)
    assert vectors.shape == (2, 5, 3, 8) and weights.shape == (2, 5, 3)
    assert torch.allclose(weights[real].sum(-1), torch.ones(int(real.sum())))
    changed = hidden.clone()
    changed[:, 3:] = torch.randn(2, 2, 8)
    again, again_weights = extractor(changed, real)
    assert torch.equal(again[:, :3], vectors[:, :3]) and torch.equal(again_weights[:, :3], weights[:, :3])
    # a slot's vector at the first real position is that position's hidden state (the only one it sees)
    assert torch.allclose(vectors[0, 1], hidden[0, 1].expand(3, 8))


def test_scores_add_the_best_interest_and_name_it():
    query = torch.tensor([[1.0, 0.0]])
    interests = torch.tensor([[[0.0, 2.0], [3.0, 0.0]]])
    items = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # row 0 pads
    assert InterestExtractor.scores(query, interests, items).tolist() == [[4.0, 2.0, 4.0]]
    assert InterestExtractor.producing(interests, items[1:]).tolist() == [[1, 0, 1]]
    assert InterestExtractor.best_for(interests[0][None].expand(2, 2, 2),
                                      torch.tensor([[0.0, 1.0], [1.0, 0.0]])).tolist() == [[0.0, 2.0], [3.0, 0.0]]


def test_memory_trains_with_the_network(fitted):
    model, log = fitted
    untrained = IgcoreRecommender(TINY)
    untrained._seed()
    untrained._build(log, None, None, 0)
    for name, value in untrained.memory.state_dict().items():
        if name.split(".")[-1] not in {"memory", "last_update", "_assoc"}:
            assert not torch.equal(value, model.memory.state_dict()[name]), name
    replay = MemoryReplay(model.net, model.state, log)
    replay.replay()
    windows = training_windows(log, TINY.max_len, TINY.gap_buckets)
    model.net.train()
    loss = batch_loss(model.net, windows.batch(np.arange(len(windows.lengths)), "cpu"), None, replay)
    model.memory.zero_grad()
    loss.backward()
    grads = {n: p.grad for n, p in model.memory.named_parameters()}
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads.values())
    model.net.eval()
    model.rebuild_state(log)


def test_each_training_position_reads_its_users_memory_after_its_previous_event(fitted, monkeypatch):
    """As serving reads a memory that took in the user's latest event, even when the chunks of the replay put
    that event and the target in one chunk (12 users in turn, chunks of 30: a user's consecutive events share
    a chunk more often than not)."""
    model, log = fitted
    state, step = model.state, 30
    monkeypatch.setattr(state, "memory_batch", step)
    replay = MemoryReplay(model.net, state, log)
    replay.replay()
    with torch.no_grad():
        read = replay.before(torch.arange(len(log)), model.net.items())
    previous = previous_events(log.user)
    assert (read[previous < 0] == 0).all()
    same_chunk = 0
    for event in np.flatnonzero(previous >= 0):
        p = int(previous[event])
        start = p // step * step  # the replay's chunks before p's, then p's own chunk cut after p
        state.memory.reset_state()
        state.observe(log.subset(np.arange(start)))
        state.observe(log.subset(np.arange(start, p + 1)))
        expected = state.memory.user_memory(torch.tensor([int(log.user[event])]))[0]
        assert torch.allclose(read[event], expected, atol=2e-3)  # the trace keeps half precision
        same_chunk += event // step == p // step
    assert same_chunk > len(log) // 2
    monkeypatch.undo()
    model.rebuild_state(log)


def test_only_training_keeps_a_trace_and_it_holds_each_chunks_memories_at_half_precision(fitted):
    model, log = fitted
    state, step = model.state, model.state.memory_batch
    state.memory.reset_state()
    assert state.observe(log) is None  # a replay keeps no trace
    after = state.memory.tgn.memory.clone()
    state.memory.reset_state()
    trace = state.observe(log, trace=True)
    assert torch.equal(state.memory.tgn.memory, after)  # keeping the trace changes no memory
    state.memory.reset_state()
    for lo in range(0, len(log), step):  # the same chunks one by one, in full precision
        chunk = log.subset(np.arange(lo, min(lo + step, len(log))))
        part = state.memory.observe(torch.as_tensor(chunk.user), torch.as_tensor(chunk.item),
                                    torch.as_tensor(chunk.ts), torch.as_tensor(chunk.event_type), state.features())
        assert torch.equal(trace.user_before[lo:lo + step], part.user_before.half())
        assert torch.equal(trace.item_before[lo:lo + step], part.item_before.half())
        assert torch.equal(trace.user_gap[lo:lo + step], part.user_gap)
    assert trace.user_before.dtype == torch.float16 and trace.user_before.abs().sum() > 0
    model.rebuild_state(log)


def test_update_moves_only_the_touched_users_interests_and_trains_nothing(fitted):
    model, log = fitted
    twin = model.fork(np.array([0]))
    weights = twin.weights()
    users = np.arange(model.n_users)
    before_q, before_w = twin.interest_state(users)
    twin.update(dataclasses.replace(log.subset(np.array([0])), user=np.array([0]), item=np.array([12]),
                                    ts=np.array([int(log.ts.max()) + 60])))
    after_q, after_w = twin.interest_state(users)
    assert not np.allclose(before_q[0], after_q[0]) and not np.allclose(before_w[0], after_w[0])
    assert np.array_equal(before_q[1:], after_q[1:]) and np.array_equal(before_w[1:], after_w[1:])
    assert all(torch.equal(v, twin.weights()[k]) for k, v in weights.items())


def test_histories_are_arrays_per_user_appended_in_time_order_and_forks_keep_their_own():
    log = from_arrays(["a", "b", "a"], ["x", "y", "z"], [10, 20, 30])  # users a=0, b=1; items x=0, y=1, z=2
    state = OnlineState(2, None, 4)
    state.set_histories(log)
    assert [h.tolist() for h in state.items] == [[0, 2], [1]] and state.times[0].tolist() == [10, 30]
    assert all(isinstance(h, np.ndarray) and h.dtype == np.int64 for c in (state.items, state.types, state.times)
               for h in c)
    new = dataclasses.replace(log, user=np.array([1, 0, 1]), item=np.array([0, 1, 2]), ts=np.array([40, 50, 60]),
                              event_type=np.zeros(3, dtype=np.int16))
    twin = state.fork(np.array([1]))
    twin.histories.append(new)
    assert [h.tolist() for h in twin.items] == [[0, 2, 1], [1, 0, 2]] and twin.times[1].tolist() == [20, 40, 60]
    assert twin.types[1].tolist() == [0, 0, 0] and twin.histories.n_events == 6 and state.histories.n_events == 3
    assert [h.tolist() for h in state.items] == [[0, 2], [1]]  # the original did not move


def test_the_score_that_ranks_is_the_query_plus_the_best_interest(fitted):
    model, _ = fitted
    users = np.arange(model.n_users)
    serving = model.serving_state("k")
    scores = model.score(users)
    queries, _ = model.interest_state(users)
    by_hand = serving.queries @ serving.items.T + (queries @ serving.items.T).max(axis=1)
    assert np.allclose(scores, by_hand, atol=1e-5) and np.allclose(serving.score(users), scores, atol=1e-5)
    assert serving.interests.shape == (model.n_users, 3, 16)
    assert np.allclose(serving.interest_weights.sum(1), 1.0, atol=1e-5)


def test_serving_chunks_group_similar_lengths_within_their_limits():
    lengths = np.array([50, 3, 0, 3, 12, 50, 2])
    chunks = length_chunks(lengths, rows=3, positions=60)
    assert [c.tolist() for c in chunks] == [[2, 6, 1], [3, 4], [0], [5]]  # 3 x 3, 2 x 12, then 1 x 50 each
    assert [c.tolist() for c in length_chunks(lengths, rows=10, positions=10)] == [[2, 6, 1], [3], [4], [0], [5]]
    assert length_chunks(np.zeros(0, dtype=np.int64), rows=4, positions=8) == []


def test_the_serving_state_in_length_chunks_is_the_one_of_all_users_at_once(fitted, monkeypatch):
    model, _ = fitted
    whole = model.serving_state("k")
    monkeypatch.setattr("igcore.pipeline.serve.SERVING_POSITIONS", 8)  # a chunk per history length or two
    lengths = [len(h) for h in model.state.items]
    assert len(length_chunks(np.minimum(lengths, model.cfg.max_len), 2048, 8)) > 3
    chunked = model.serving_state("k")
    for name in ("queries", "sources", "hidden", "interests", "interest_weights"):
        assert np.allclose(getattr(chunked, name), getattr(whole, name), atol=1e-5), name


def test_a_window_cut_into_prefixes_keeps_each_positions_inputs_and_target():
    # two windows of max_len 4: lengths 3 and 1 (1-based items; target events are indexes in the training log)
    w = Windows(items=np.array([[0, 5, 6, 7], [0, 0, 0, 9]]), types=np.array([[0, 1, 1, 2], [0, 0, 0, 1]]),
                gaps=np.array([[0, 3, 4, 5], [0, 0, 0, 6]]), targets=np.array([[0, 6, 7, 8], [0, 0, 0, 3]]),
                lengths=np.array([3, 1]), users=np.array([4, 2]), target_events=np.array([[0, 10, 11, 12],
                                                                                          [0, 0, 0, 13]]))
    p = prefix_windows(w)
    assert p.items.tolist() == [[0, 0, 0, 5], [0, 0, 5, 6], [0, 5, 6, 7], [0, 0, 0, 9]]
    assert p.types.tolist() == [[0, 0, 0, 1], [0, 0, 1, 1], [0, 1, 1, 2], [0, 0, 0, 1]]
    assert p.gaps.tolist() == [[0, 0, 0, 3], [0, 0, 3, 4], [0, 3, 4, 5], [0, 0, 0, 6]]
    assert p.targets.tolist() == [[0, 0, 0, 6], [0, 0, 0, 7], [0, 0, 0, 8], [0, 0, 0, 3]]
    assert p.target_events.tolist() == [[0, 0, 0, 10], [0, 0, 10, 11], [0, 10, 11, 12], [0, 0, 0, 13]]
    assert p.lengths.tolist() == [1, 2, 3, 1] and p.users.tolist() == [4, 4, 4, 2]
    assert p.final.tolist() == [False, False, True, True]


@pytest.mark.parametrize("prefixes", [False, True])
def test_training_rows_built_per_batch_equal_the_windows_built_at_once(prefixes: bool):
    log = _planted(n_users=7, per_user=9)
    whole = training_windows(log, TINY.max_len, TINY.gap_buckets)
    whole = prefix_windows(whole) if prefixes else whole
    rows = training_rows(log, TINY.max_len, TINY.gap_buckets, prefixes=prefixes)
    assert rows.lengths.tolist() == whole.lengths.tolist() and rows.positions == int((whole.targets > 0).sum())
    order = np.random.default_rng(0).permutation(len(rows.lengths))
    for idx in np.array_split(order, 4):  # batches in any order and size give exactly those rows
        got, want = rows.take(idx), whole.take(idx)
        for field in ("items", "types", "gaps", "targets", "lengths", "users", "target_events", "final"):
            assert np.array_equal(getattr(got, field), getattr(want, field)), field
    if not prefixes:  # by hand: nine events per user, the first eight in, the last eight as targets
        for r, u in enumerate(whole.users.tolist()):
            mine = np.flatnonzero(log.user == u)
            assert whole.items[r].tolist() == (log.item[mine[:-1]] + 1).tolist()
            assert whole.targets[r].tolist() == (log.item[mine[1:]] + 1).tolist()
            assert whole.target_events[r].tolist() == mine[1:].tolist()
            assert whole.types[r].tolist() == (log.event_type[mine[:-1]] + 1).tolist()
            assert whole.gaps[r].tolist() == gap_buckets(log.ts[mine], TINY.gap_buckets)[:-1].tolist()


@pytest.mark.parametrize(("samples", "negatives"), [("positions", 0), ("prefixes", 0), ("positions", 4)])
def test_training_learns_the_planted_walks(samples: str, negatives: int):
    """Each user's next item is the next of five in its category: a trained model ranks it high, also when each
    batch scores its targets against four drawn items instead of all fifteen."""
    log = _planted(n_users=24, per_user=12)
    model = IgcoreRecommender(TINY, epochs=30 if samples == "positions" else 10, lr=0.01, samples=samples,
                              negatives=negatives)
    model.fit(log)
    scores = model.score(np.arange(model.n_users))
    item_index = {name: i for i, name in enumerate(log.item_ids)}
    hits = 0
    for u in range(model.n_users):
        last = log.item_ids[model.state.items[u][-1]]
        category, step = divmod(int(last[1:]), 5)
        nxt = item_index[f"i{category * 5 + (step + 1) % 5:02d}"]
        hits += int(nxt in np.argsort(-scores[u])[:3])
    assert hits >= 20  # of 24; a random ranking puts the next item in the top 3 of 15 one time in five


def test_each_training_position_reads_a_graph_without_its_target():
    log = from_arrays(["a", "b", "a", "c", "b", "a", "c", "b"], ["x", "y", "y", "x", "z", "z", "y", "x"],
                      list(range(8)))
    graph = training_graph(dataclasses.replace(TINY, graph_on="items", graph_slices=4, gnn="lightgcn"), log, "cpu")
    assert graph.slice_of_event.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    edges = [g.to_dense().nonzero().tolist() for g in graph.operators]
    n_users = log.n_users
    pairs = [{(u, i - n_users) for u, i in e if u < n_users} for e in edges]
    assert pairs == [set(), {(0, 0), (1, 1)}, {(0, 0), (1, 1), (0, 1), (2, 0)}, {(0, 0), (1, 1), (0, 1), (2, 0),
                                                                             (1, 2), (0, 2)}]
    for e in range(len(log)):  # the position predicting event e never finds (user, item) of e in its graph
        assert (int(log.user[e]), int(log.item[e])) not in pairs[int(graph.slice_of_event[e])]


def test_the_graph_on_items_trains_and_serves():
    log = _planted()
    model = IgcoreRecommender(TINY, graph_on="items", gnn="lightgcn", epochs=1)
    model.fit(log)
    tables = model._item_tables()
    assert tables.graph_user is None and not torch.allclose(tables.table, tables.base)
    users = np.arange(model.n_users)
    assert np.allclose(model.serving_state("k").score(users), model.score(users), atol=1e-5)


def test_the_item_transition_graph_trains_and_serves_and_needs_the_graph_on_items():
    log = _planted()  # users walk five items of their category in order: transitions stay within a category
    model = IgcoreRecommender(TINY, graph_on="items", graph_edges="transitions", gnn="lightgcn", epochs=1)
    model.fit(log)
    graph = training_graph(model.cfg, log, "cpu").operators[-1].to_dense()
    n_users = log.n_users
    assert graph[:n_users].abs().sum() == 0 and graph[:, :n_users].abs().sum() == 0  # no user has an edge
    src, dst = graph.nonzero().T - n_users
    category = torch.as_tensor(np.array([int(i[1:]) // 5 for i in log.item_ids]))
    assert len(src) > 0 and torch.equal(category[src], category[dst])
    tables = model._item_tables()
    assert not torch.allclose(tables.table, tables.base)
    users = np.arange(model.n_users)
    assert np.allclose(model.serving_state("k").score(users), model.score(users), atol=1e-5)
    with pytest.raises(ValueError, match="graph_on=items"):
        IgcoreRecommender(TINY, graph_edges="transitions").fit(log)


def test_a_residual_graph_learns_its_weight_and_at_zero_keeps_the_items_own_vectors():
    log = _planted()
    model = IgcoreRecommender(TINY, graph_on="items", gnn="lightgcn", graph_residual=True, epochs=1)
    model.fit(log)
    weight = model.net.graph_weight
    assert weight.item() != 0.0  # it starts at 0: training moved it, so it received gradients
    graph = training_graph(model.cfg, log, "cpu").operators[0]
    with torch.no_grad():
        base = model.net.items()
        assert not torch.allclose(model.net.propagate(base, graph), base)
        weight.zero_()
        assert torch.equal(model.net.propagate(base, graph), base)  # weight 0: each item's own vector exactly


def test_sampled_loss_scores_the_target_against_the_drawn_items_only():
    drawn = torch.tensor([2, 3, 1])
    query, tables = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 2.0],
                                                                           [1.0, 1.0]]])
    targets, own = torch.tensor([1, 2]), torch.tensor([0, 0])
    loss = sampled_loss(query, tables, own, targets, drawn)
    expected = []
    for q, t in zip(query, targets.tolist()):
        others = [float(q @ tables[0, d]) for d in drawn.tolist() if d != t]
        logits = torch.tensor([float(q @ tables[0, t]), *others])
        expected.append(float(torch.logsumexp(logits, 0) - logits[0]))
    assert float(loss) == pytest.approx(sum(expected) / 2)


def test_item_rows_asked_for_are_a_compact_table_of_the_whole_tables_rows_whose_id_gradient_is_sparse():
    torch.manual_seed(0)
    attrs = torch.tensor([[0, 0], [1, 2], [2, 0], [0, 0], [3, 1], [1, 0]])
    encoder = ItemEncoder(5, 4, torch.randn(6, 3), attrs, 3)
    rows = torch.tensor([4, 1])
    part, whole = encoder(rows), encoder()
    assert part.shape == (3, 4) and whole.shape == (6, 4)
    assert torch.allclose(part[1:], whole[rows]) and not part[0].any()
    part.sum().backward()
    grad = encoder.item_id.weight.grad
    assert grad.is_sparse and sorted(grad.coalesce().indices()[0].tolist()) == [1, 4]
    encoder.item_id.weight.grad, encoder.sparse_ids = None, False
    encoder(rows).sum().backward()
    assert not encoder.item_id.weight.grad.is_sparse


def test_a_text_projection_started_at_zero_leaves_items_their_ids_and_attributes_and_still_learns():
    torch.manual_seed(0)
    text, attrs = torch.randn(6, 3), torch.tensor([[0, 0], [1, 2], [2, 0], [0, 0], [3, 1], [1, 0]])
    torch.manual_seed(1)
    silent = ItemEncoder(5, 4, text, attrs, 3, text_start="zero")
    items = silent()
    assert torch.equal(items, silent.item_id.weight + silent.attr_bag(attrs))
    items[2].sum().backward()
    assert torch.equal(silent.text_proj.weight.grad, text[2].expand(4, 3))  # d(sum of row 2)/dW: its text
    torch.manual_seed(1)  # the same draws otherwise: only the projection starts elsewhere
    drawn = ItemEncoder(5, 4, text, attrs, 3)
    assert torch.equal(drawn.item_id.weight, silent.item_id.weight) and drawn.text_proj.weight.abs().min() > 0
    with pytest.raises(ValueError, match="text_start must be one of drawn, zero"):
        ItemEncoder(5, 4, text, attrs, 3, text_start="random")


def test_a_batch_drawing_negatives_reads_few_item_rows_and_trains_as_with_the_whole_table(fitted, monkeypatch):
    model, log = fitted
    net = copy.deepcopy(model.net)
    net.cfg = dataclasses.replace(TINY, negatives=4)
    state = model.state.fork(np.arange(model.n_users))
    state.memory = copy.deepcopy(state.memory)  # its own modules too: gradients are compared below
    replay = MemoryReplay(net, state, log)
    replay.replay()
    windows = training_windows(log, TINY.max_len, TINY.gap_buckets)
    batch = windows.batch(np.array([0]), "cpu")  # one user's window: five items of one category

    def trained() -> tuple[float, dict[str, torch.Tensor]]:
        torch.manual_seed(3)
        params = [*net.named_parameters(), *state.memory.named_parameters()]
        for _, param in params:
            param.grad = None
        loss = batch_loss(net, batch, None, replay)
        loss.backward()
        return float(loss), {name: param.grad.to_dense() for name, param in params if param.grad is not None}

    torch.manual_seed(3)
    read = rows_read(batch, torch.randint(1, net.n_items + 1, (4,)), replay)
    assert 0 < len(read) < net.n_items and int(read.min()) >= 1
    loss, grads = trained()
    monkeypatch.setattr("igcore.pipeline.trainer.rows_read", lambda *args: None)  # the whole table instead
    whole_loss, whole_grads = trained()
    assert loss == pytest.approx(whole_loss, abs=1e-6) and grads.keys() == whole_grads.keys()
    assert any(name.startswith("tgn.") for name in grads)
    assert all(torch.allclose(grads[name], whole_grads[name], atol=1e-6) for name in grads)


def test_a_budget_that_ends_inside_an_epoch_stops_training_after_one_batch():
    log = _planted()  # 12 users of 9 events: 8 training positions each
    cut = IgcoreRecommender(TINY, batch_size=4, max_train_s=0.0, epochs=5)
    cut.fit(log)
    assert len(cut.log) == 1 and cut.log[0]["cut"] and cut.log[0]["capped"]
    assert cut.log[0]["positions"] == 4 * 8  # the one batch it trained: four users' windows
    assert cut.log[0]["epoch_positions"] == 12 * 8
    whole = IgcoreRecommender(TINY, batch_size=4, epochs=1)
    whole.fit(log)
    assert whole.log[0]["positions"] == 12 * 8 and "cut" not in whole.log[0]


def test_auto_samples_train_short_histories_on_prefixes_and_long_ones_on_windows():
    short = _planted()  # 12 users of 9 events: windows of 8 targets
    assert prefixes_pay(short, max_len=8, limit=8.0) and not prefixes_pay(short, max_len=8, limit=7.9)
    assert resolve_samples("auto", short, 8, 8.0) == "prefixes"
    assert resolve_samples("positions", short, 8, 99.0) == "positions"
    with pytest.raises(IgcoreError, match="samples must be one of prefixes, positions, auto"):
        resolve_samples("windows", short, 8, 8.0)
    assert prefixes_pay(short, max_len=4, limit=4.0)  # a window holds at most max_len targets
    model = IgcoreRecommender(TINY, samples="auto", prefix_limit=8.0, epochs=1)
    model.fit(short)
    assert model.log[0]["positions"] == 12 * 8
    assert model.samples == "prefixes"
    windows = IgcoreRecommender(TINY, samples="auto", prefix_limit=7.0, epochs=1)
    windows.fit(short)
    assert windows.samples == "positions" and windows.log[0]["positions"] == 12 * 8


def test_early_stopping_keeps_the_best_epochs_network_and_memory_weights():
    log = _planted()
    last = _last_events(log)
    curve = iter([0.5, 0.1, 0.2])  # the first epoch validates best; the other two train on

    class ScriptedValidation(IgcoreRecommender):
        def validation_ndcg(self, valid):
            return next(curve)

    model = ScriptedValidation(TINY, epochs=3, patience=5, lr=0.01)
    weights: dict[int, dict[str, torch.Tensor]] = {}

    def after_epoch(stage, done, total, entry):
        if stage == "train" and entry.get("epoch"):
            modules = {"net": model.net, "memory": model.memory}
            weights[entry["epoch"]] = {f"{m}.{n}": p.detach().clone() for m, module in modules.items()
                                       for n, p in module.named_parameters()}

    model.fit(log.subset(~last), log.subset(last), after_epoch)
    assert sorted(weights) == [1, 2, 3] and [e["epoch"] for e in model.log] == [1, 2, 3]
    kept = {f"{m}.{n}": p for m, module in {"net": model.net, "memory": model.memory}.items()
            for n, p in module.named_parameters()}
    memory = [n for n in kept if n.startswith("memory.")]
    assert memory and all(torch.equal(kept[n], weights[1][n]) for n in kept)
    assert all(not torch.equal(weights[3][n], weights[1][n]) for n in memory)  # the memory trained on after epoch 1


def test_the_model_served_after_training_scores_as_its_best_epoch_validated():
    log = _planted()
    last = _last_events(log)
    users = np.unique(log.user)
    validated: list[np.ndarray] = []

    class RecordedValidation(IgcoreRecommender):
        def validation_ndcg(self, valid):
            self.forget_tables()
            validated.append(self.score(users))
            self.forget_tables()
            return [0.1, 0.5, 0.2][len(validated) - 1]  # the second epoch validates best

    model = RecordedValidation(TINY, epochs=3, patience=5, lr=0.01)
    model.fit(log.subset(~last), log.subset(last))
    assert len(validated) == 3
    assert not np.allclose(validated[0], validated[1], atol=1e-3)  # the epochs' scores differ
    # the memory validation read was replayed under the weights it was read with, as the served one is
    np.testing.assert_allclose(model.score(users), validated[1], rtol=0, atol=1e-5)


def test_a_batch_without_a_users_last_target_skips_the_gnn_and_reads_the_same_sources():
    log = _planted()
    model = IgcoreRecommender(TINY, samples="prefixes", epochs=1)
    model.fit(log)
    rows = training_rows(log, TINY.max_len, TINY.gap_buckets, prefixes=True)
    graph = training_graph(model.cfg, log, "cpu")
    runs = []
    hook = model.net.gnn.convs[0].register_forward_hook(lambda *_: runs.append(1))
    model.net.eval()
    inner, last = np.flatnonzero(~rows.final)[:5], np.flatnonzero(rows.final)[:1]
    with torch.no_grad():
        skipped = batch_loss(model.net, rows.batch(inner, "cpu"), graph, None)
        assert runs == []
        batch_loss(model.net, rows.batch(np.concatenate([inner, last]), "cpu"), graph, None)
        assert runs == [1]
        # what the GNN's user vectors would add to rows that do not read them: nothing (the source is zeros)
        out = model.net.item_table(graph.operators[0])
        seq = model.net.seq(out.table, *(getattr(rows.batch(inner, "cpu"), f) for f in ("items", "types", "gaps")))
        with_zeros, _ = model.net.fusion(seq, torch.zeros_like(seq), None)
        without, _ = model.net.fusion(seq, None, None)
    hook.remove()
    assert torch.equal(with_zeros, without) and torch.isfinite(skipped)


@pytest.mark.parametrize("use_graph, final_apart, apart", [(False, False, False), (False, True, True),
                                                           (True, False, True)])
def test_last_targets_are_batched_apart_with_the_graph_or_when_asked(monkeypatch, use_graph, final_apart, apart):
    """The graph on users batches the rows of users' last training targets apart (only they read its vectors);
    ``final_apart`` does the same without a graph, so an ablation can keep the batching and drop the graph."""
    seen = []
    monkeypatch.setattr("igcore.pipeline.trainer.length_batches",
                        lambda lengths, size, rng, marked=None: seen.append(marked) or [])
    log = _planted()
    IgcoreRecommender(TINY, use_graph=use_graph, final_apart=final_apart, samples="prefixes", epochs=1).fit(log)
    if not apart:
        assert seen == [None]
    else:  # one row per target, the last of each of the 12 users marked
        assert len(seen[0]) == len(log.user) - 12 and seen[0].sum() == 12
