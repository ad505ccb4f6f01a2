"""BSARec: the frequency filter against hand computations, the padding and prefix rules it relies on, learning a
deterministic next-item rule, and its name in the registry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from igcore.encode.frequency import SpectralMix
from igcore.evaluate.bsarec import BSARec, BSARecConfig, BSARecNet, FrequencyFilter
from igcore.evaluate.registry import SEEDED, ModelContext, resolve_model
from igcore.evaluate.splits import leave_one_out
from igcore.events import Interactions
from igcore.pipeline.training import validation_ndcg
from tests.conftest import cycle_log

X = torch.tensor([[[1.0, 2.0], [3.0, 0.0], [5.0, 6.0], [7.0, 4.0]]])  # (B=1, L=4, dim=2); column means 4 and 3


def _filter(c: int, sqrt_beta: list[float], max_len: int = 4) -> FrequencyFilter:
    layer = FrequencyFilter(dim=2, c=c, max_len=max_len, dropout=0.0)
    with torch.no_grad():
        layer.spectrum.sqrt_beta.copy_(torch.tensor(sqrt_beta))
    return layer.eval()


def _spectrum(c: int, sqrt_beta: list[float], max_len: int = 4) -> SpectralMix:
    return _filter(c, sqrt_beta, max_len).spectrum


def test_c1_low_pass_is_the_mean_and_beta_moves_between_low_pass_and_input():
    mean = torch.tensor([[[4.0, 3.0]] * 4])
    assert torch.allclose(_spectrum(1, [1.0, 1.0]).low_pass(X), mean, atol=1e-6)
    assert torch.allclose(_spectrum(1, [1.0, -1.0])(X), X, atol=1e-6)  # beta = sqrt_beta ** 2 = 1: the input
    assert torch.allclose(_spectrum(1, [0.0, 0.0])(X), mean, atol=1e-6)  # beta = 0: the low-pass part
    half = torch.tensor([[[2.5, 2.5], [3.5, 1.5], [4.5, 4.5], [5.5, 3.5]]])  # beta = 0.5: mean + (x - mean) / 2
    assert torch.allclose(_spectrum(1, [0.5**0.5, 0.5**0.5])(X), half, atol=1e-6)
    mixed = torch.tensor([[[1.0, 3.0], [3.0, 3.0], [5.0, 3.0], [7.0, 3.0]]])  # beta per dimension: 1 and 0
    assert torch.allclose(_spectrum(1, [1.0, 0.0])(X), mixed, atol=1e-6)


def test_c3_keeps_two_rfft_bins_and_drops_only_the_nyquist_term():
    # L = 4, c = 3: c // 2 + 1 = 2 bins (constant and first frequency); the dropped Nyquist term of a column x is
    # (x0 - x1 + x2 - x3) / 4 * (+1, -1, +1, -1): column 0 gives -1, column 1 gives +1.
    nyquist = torch.tensor([[[-1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]]])
    assert torch.allclose(_spectrum(3, [0.0, 0.0]).low_pass(X), X - nyquist, atol=1e-6)


def test_filter_layer_adds_the_residual_and_normalises():
    # beta = 1: LayerNorm(x + x) over two dimensions is (-1, +1) ordered like the row's two values.
    out = _filter(1, [1.0, 1.0])(X)
    assert torch.allclose(out, torch.tensor([[[-1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]]]), atol=1e-6)


def test_a_narrow_batch_filters_like_the_zero_padded_full_width():
    # Width 2 of max_len 4 stands for (0, 0, a, b): with c = 1 every position's low-pass is (a + b) / 4.
    tail = X[:, 2:]
    layer = _spectrum(1, [0.0, 0.0])
    assert torch.allclose(layer.low_pass(tail), torch.tensor([[[3.0, 2.5], [3.0, 2.5]]]), atol=1e-6)
    padded = torch.cat([torch.zeros(1, 2, 2), tail], dim=1)
    for c in (1, 3):
        layer = _spectrum(c, [0.3, 1.2])
        assert torch.allclose(layer(tail), layer(padded)[:, 2:], atol=1e-6)
    with pytest.raises(ValueError, match="exceeds max_len 4"):
        layer.low_pass(torch.zeros(1, 5, 2))


def test_hidden_states_do_not_depend_on_batch_width_or_on_other_users():
    torch.manual_seed(0)
    cfg = BSARecConfig(dim=8, layers=2, heads=2, max_len=6, dropout=0.0, attention_dropout=0.0)
    net = BSARecNet(n_items=9, cfg=cfg).eval()
    short = torch.tensor([[0, 0, 0, 0, 3, 7]])
    batch = torch.tensor([[0, 0, 0, 0, 3, 7], [1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        alone = net(short[:, -2:])[:, -1]  # cut to its own width, as a batch of short sequences is
        full = net(short)[:, -1]  # padded to max_len
        beside_long = net(batch)[:1, -1]
        assert torch.allclose(alone, full, atol=1e-5) and torch.allclose(alone, beside_long, atol=1e-5)
        assert bool((net(batch)[0, :4] == 0).all())  # padded positions carry nothing


def test_each_target_trains_on_its_own_prefix_only():
    model = BSARec(max_len=3, device="cpu")
    model.histories = [[5, 6, 7, 8, 9], [2], [], [4, 1]]  # 0-based items; a one-item history has no target
    inputs, targets = model._prefix_samples()
    # user 0: the last max_len + 1 = 4 items 6, 7, 8, 9 give targets 7, 8, 9 (inputs are 1-based, left-padded)
    assert inputs.tolist() == [[0, 0, 7], [0, 7, 8], [7, 8, 9], [0, 0, 5]]
    assert targets.tolist() == [7, 8, 9, 1]



def test_bsarec_learns_the_next_item_rule_and_updates_without_training():
    data = cycle_log()
    split = leave_one_out(data)
    model = BSARec(dim=16, layers=1, heads=1, max_len=8, lr=1e-2, epochs=12, eval_every=2, patience=10,
                   batch_size=64, seed=0, device="cpu")
    model.fit(split.train, split.valid)
    assert [e["epoch"] for e in model.log] == list(range(1, 13))
    assert [e["epoch"] for e in model.log if "valid_ndcg@10" in e] == [2, 4, 6, 8, 10, 12]
    # every validation target ranked first; a random ranking of the 22 unseen items misses the top 10 more often
    # than not
    assert max(e["valid_ndcg@10"] for e in model.log if "valid_ndcg@10" in e) == 1.0
    assert model.log[-1]["loss"] < model.log[0]["loss"] / 2
    before = [p.detach().clone() for p in model.net.parameters()]
    model.update(split.valid)
    assert validation_ndcg(model.score, model.histories, split.test.user, split.test.item, True) == 1.0
    assert all(bool((a == b).all()) for a, b in zip(before, model.net.parameters())), "update must not train"
    u0 = int(np.flatnonzero(data.user_ids == "u00")[0])  # saw i00..i09 -> next i10
    event = dataclasses.replace(split.test.subset(np.array([0])), user=np.array([u0]),
                                item=np.array([int(np.flatnonzero(data.item_ids == "i09")[0])]))
    assert _next_unseen(model, data, u0) == "i09"
    model.update(event)
    assert _next_unseen(model, data, u0) == "i10"


def _next_unseen(model: BSARec, data: Interactions, user: int) -> str:
    """The user's top-scored item among those not in their history (as the validation above ranks)."""
    scores = model.score(np.array([user]))[0]
    scores[model.histories[user]] = -np.inf
    return str(data.item_ids[int(np.argmax(scores))])


def test_registry_builds_a_seeded_bsarec():
    model = resolve_model("BSARec")(ModelContext(seed=3, device="cpu", exclude_seen=False))
    assert isinstance(model, BSARec) and model.name == "BSARec" and "BSARec" in SEEDED
    assert (model.cfg.seed, model.cfg.valid_exclude_seen, model.cfg.alpha, model.cfg.c) == (3, False, 0.7, 5)
