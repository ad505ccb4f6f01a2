"""Splits, protocols and baselines on small logs built by hand; the leakage probe for every protocol."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from igcore.evaluate.baselines import ItemKNN, Markov, MostPop, RecencyPop
from igcore.evaluate.protocols import EvalConfig, evaluate
from igcore.evaluate.registry import resolve_model
from igcore.evaluate.splits import leave_one_out, temporal_split
from igcore.events import Interactions, from_arrays, split_at


def _log(rows: list[tuple[str, str, int]]) -> Interactions:
    users, items, ts = zip(*rows)
    return from_arrays(users, items, ts)


def test_leave_one_out_by_hand():
    data = _log([("a", "x", 1), ("a", "y", 2), ("a", "z", 3), ("b", "x", 1), ("b", "y", 1), ("c", "z", 5)])
    split = leave_one_out(data)
    ids = lambda part: sorted(zip(data.user_ids[part.user], data.item_ids[part.item]))  # noqa: E731
    assert ids(split.test) == [("a", "z"), ("b", "y"), ("c", "z")]  # b's tie kept in arrival order
    assert ids(split.valid) == [("a", "y")]
    assert ids(split.train) == [("a", "x"), ("b", "x")]


def test_each_users_sequence_in_time_order_with_empty_runs_kept():
    data = _log([("a", "x", 3), ("c", "y", 1), ("a", "z", 2), ("c", "x", 4)])
    data = dataclasses.replace(data, user_ids=np.array(["a", "b", "c"], dtype=object), user=data.user * 2)
    assert [data.item_ids[s].tolist() for s in data.sequences()] == [["z", "x"], [], ["y", "x"]]
    values = np.arange(6)
    for cuts in ([], [0], [2, 2, 5], [6]):
        assert [p.tolist() for p in split_at(values, np.array(cuts))] == [p.tolist() for p in np.split(values, cuts)]


def test_temporal_split_cutoffs_and_cold_counts():
    rows = [(f"u{k % 3}", f"i{k % 4}", k) for k in range(10)] + [("new", "fresh", 9)]
    split = temporal_split(_log(rows), valid_frac=0.2, test_frac=0.2)
    assert split.train.ts.max() < split.valid.ts.min() <= split.valid.ts.max() < split.test.ts.min()
    assert len(split.train) + len(split.valid) + len(split.test) == 11
    assert split.info["test_events_new_user"] == 1 and split.info["test_events_new_item"] == 1


class Peeker:
    """A probe, not a model: remembers every event it is given and recommends each user's latest item. If the
    harness ever fed a test event before predicting it, this probe would rank that target first."""

    name = "Peeker"

    def fit(self, train, valid=None):
        self.n_items, self.last = train.n_items, {}
        self.update(train)

    def update(self, events):
        for u, i in zip(events.user.tolist(), events.item.tolist()):
            self.last[u] = i

    def score(self, users, at=None):
        out = np.zeros((len(users), self.n_items))
        for r, u in enumerate(users.tolist()):
            if u in self.last:
                out[r, self.last[u]] = 1.0
        return out

    def recommend(self, user, k=10, at=None):
        return np.argsort(-self.score(np.array([user]))[0])[:k]


def _planted() -> Interactions:
    """Each user views distinct items; every user's later items are ones nobody saw before (planted targets)."""
    rows = []
    for u in range(6):
        for k in range(8):
            rows.append((f"u{u}", f"item{u}_{k}", 100 * k + u))
    return _log(rows)


@pytest.mark.parametrize("config", [EvalConfig("loo"), EvalConfig("temporal"), EvalConfig("stream", batch_size=1),
                                    EvalConfig("stream", batch_size=4), EvalConfig("stream", frozen=True)])
def test_no_test_event_is_seen_before_it_is_predicted(config):
    split = leave_one_out(_planted()) if config.protocol == "loo" else temporal_split(_planted())
    result = evaluate(Peeker(), split, config)
    for variant in result["variants"].values():
        assert variant["cases"] > 0
        assert variant["hr@5"] == 0.0, "a test event leaked before prediction"


def test_stream_updates_help_only_when_not_frozen():
    """A user repeating the same item: after the first test event is fed, the next is predictable."""
    rows = [("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("u", "d", 4), ("u", "e", 5)] + \
           [("u", "z", 10 + k) for k in range(5)] + [("v", "a", 1)]
    split = temporal_split(_log(rows), valid_frac=0.0, test_frac=0.45)
    dynamic = evaluate(Peeker(), split, EvalConfig("stream", batch_size=1))["variants"]["nothing_excluded"]
    frozen = evaluate(Peeker(), split, EvalConfig("stream", batch_size=1, frozen=True))["variants"]
    assert dynamic["mrr"] > frozen["nothing_excluded"]["mrr"]
    assert dynamic["cases"] == len(split.test)


def test_kept_ranks_are_each_test_events_rank_in_the_order_of_the_test_events():
    """The same stream as above: the Peeker fed each event ranks the next z first; e and the first z, items it
    has not seen the user choose, it scores 0, tied with every item but the user's latest."""
    rows = [("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("u", "d", 4), ("u", "e", 5)] + \
           [("u", "z", 10 + k) for k in range(5)] + [("v", "a", 1)]
    split = temporal_split(_log(rows), valid_frac=0.0, test_frac=0.45)
    assert split.test.item_ids[split.test.item].tolist() == ["e"] + ["z"] * 5
    config = EvalConfig("stream", batch_size=1, exclude_seen=(False,), keep_ranks=True)
    result = evaluate(Peeker(), split, config)
    n_items = split.train.n_items
    assert result["ranks"].tolist() == [n_items, n_items, 1, 1, 1, 1]  # ties ranked pessimistically: last
    assert "ranks" not in evaluate(Peeker(), split, EvalConfig("stream", batch_size=1))


def test_baselines_by_hand():
    data = _log([("a", "x", 1), ("a", "y", 2), ("b", "x", 3), ("b", "y", 4), ("c", "x", 5), ("c", "z", 6),
                 ("d", "x", 7)])
    pop = MostPop()
    pop.fit(data)
    assert pop.score(np.array([0]))[0].tolist() == [4.0, 2.0, 1.0]  # x, y, z
    markov = Markov()
    markov.fit(data)
    d = int(np.flatnonzero(data.user_ids == "d")[0])
    # After x: y twice, z once -> P(y|x) = 2/3
    assert markov.score(np.array([d]))[0][1] == pytest.approx(2 / 3, abs=1e-5)
    knn = ItemKNN()
    knn.fit(data)
    s = knn.score(np.array([d]))[0]
    assert s[1] > s[2] > 0  # y co-occurs with x more often than z does
    recency = RecencyPop(half_life_days=1 / 86400)  # one-second half-life
    recency.fit(data)
    assert np.argmax(recency.score(np.array([0]))[0]) == 0  # x was seen last (ts 7)


def test_resolver_lists_names():
    with pytest.raises(ValueError, match="valid names: MostPop, RecencyPop, ItemKNN, Markov, LightGCN, SASRec"):
        resolve_model("BPR")


def test_sasrec_learns_a_cycle_and_updates_without_training():
    from igcore.evaluate.sasrec import SASRec

    items = [f"i{k}" for k in range(6)]
    rows = [(f"u{u}", items[(u + k) % 6], k) for u in range(30) for k in range(8)]
    data = _log(rows)
    model = SASRec(dim=32, layers=1, max_len=8, dropout=0.0, lr=1e-2, epochs=40, batch_size=32, device="cpu")
    model.fit(data)
    index = {name: i for i, name in enumerate(data.item_ids)}
    u0 = int(np.flatnonzero(data.user_ids == "u0")[0])  # u0 saw i0..i5, i0, i1 -> next i2
    assert data.item_ids[model.recommend(u0, 1)[0]] == "i2"
    before = [p.detach().clone() for p in model.net.parameters()]
    event = dataclasses.replace(data.subset(np.array([0])), user=np.array([u0]), item=np.array([index["i2"]]),
                                ts=np.array([100]))
    model.update(event)
    assert data.item_ids[model.recommend(u0, 1)[0]] == "i3"
    assert all(bool((a == b).all()) for a, b in zip(before, model.net.parameters())), "update must not train"


def test_sasrec_trains_on_one_prefix_per_target_or_on_every_position():
    from igcore.errors import IgcoreError
    from igcore.evaluate.sasrec import SASRec

    model = SASRec(max_len=3, device="cpu")
    model.histories = [[5, 6, 7, 8, 9], [2], [], [4, 1]]  # 0-based items; a one-item history has no target
    inputs, targets = model._training_windows()  # prefixes (the default): the target at the last position
    assert inputs.tolist() == [[0, 0, 7], [0, 7, 8], [7, 8, 9], [0, 0, 5]]
    assert targets.tolist() == [[0, 0, 8], [0, 0, 9], [0, 0, 10], [0, 0, 2]]
    positions = SASRec(max_len=3, samples="positions", device="cpu")
    positions.histories = model.histories
    inputs, targets = positions._training_windows()  # every position of one window per user
    assert inputs.tolist() == [[7, 8, 9], [0, 0, 5]] and targets.tolist() == [[8, 9, 10], [0, 0, 2]]
    with pytest.raises(IgcoreError, match="samples must be one of prefixes, positions"):
        SASRec(samples="windows", device="cpu")
    from igcore.evaluate.bsarec import BSARec

    with pytest.raises(IgcoreError, match="BSARec trains on prefixes only"):
        BSARec(samples="positions", device="cpu")


def test_lightgcn_recommends_what_similar_users_liked():
    from igcore.evaluate.lightgcn import LightGCN

    rows = [(f"u{u}", item, 1) for u in range(8) for item in ("a", "b", "c")]
    rows += [(f"w{u}", item, 1) for u in range(8) for item in ("x", "y", "z")]
    rows += [("new", "a", 2), ("new", "b", 2)]
    data = _log(rows)
    model = LightGCN(dim=16, layers=2, epochs=60, batch_size=64, lr=5e-2, device="cpu")
    model.fit(data)
    new = int(np.flatnonzero(data.user_ids == "new")[0])
    scores = model.score(np.array([new]))[0]
    names = list(data.item_ids)
    assert scores[names.index("c")] > max(scores[names.index(i)] for i in ("x", "y", "z"))


def test_sasrecf_uses_the_pipelines_item_encoder_and_learns():
    """SASRecF's item vectors are the item encoder's (id + text + attributes), shared with the output layer; on
    a log where the next item follows from an attribute, it learns it."""
    from igcore.encode.side import SideInfo
    from igcore.evaluate.sasrecf import SASRecF

    rng = np.random.default_rng(0)
    users, items, ts = [], [], []
    for u in range(60):  # each user walks a cycle of 20 items, starting anywhere
        start = int(rng.integers(20))
        for k in range(8):
            users.append(f"u{u}"), items.append(f"i{(start + k) % 20:02d}"), ts.append(1000 * u + k)
    data = from_arrays(users, items, ts)
    last = data.positions_in_user() == np.bincount(data.user)[data.user] - 1
    side = SideInfo(text={f"i{i:02d}": np.eye(20, dtype=np.float32)[i] for i in range(20)},
                    attrs={f"i{i:02d}": [f"c:{i % 4}"] for i in range(20)})
    model = SASRecF(side=side, dim=16, max_len=8, epochs=30, eval_every=5, patience=10, lr=5e-3, dropout=0.1,
                    device="cpu", seed=0)
    model.fit(data.subset(~last), data.subset(last))
    net = model.net
    assert net.item_emb is net.items.item_id and net.items.text_proj is not None and net.items.attr_bag is not None
    assert torch.equal(net.item_table(), net.items())
    assert max(e["valid_ndcg@10"] for e in model.log if "valid_ndcg@10" in e) > 0.9
