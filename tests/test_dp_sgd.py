"""User-level DP-SGD (igcore.dp.sgd, igcore.dp.seqnet, igcore.dp.recommender): each user's gradient is clipped
before the noisy sum, the epsilon is Opacus's own accountant's, no noise and no clipping is plain SGD, the
private network computes what the pipeline's modules compute, and private training learns a planted log."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.analysis import rdp

from igcore.dp.recommender import PrivateConfig, PrivateSequenceRecommender, train_private, user_losses
from igcore.dp.seqnet import PrivateSelfAttention, PrivateSequenceEncoder, PrivateSequenceNet
from igcore.dp.sgd import PrivateOptimizer, length_pieces, noise_multiplier, poisson_rows, spent_epsilon
from igcore.encode.sequence import SequenceEncoder, attention_mask
from igcore.errors import IgcoreError
from igcore.evaluate.registry import ModelContext, build_model
from igcore.evaluate.rows import row_name
from igcore.events import Interactions
from igcore.pipeline.windows import windows
from igcore.update.online import OnlineState

TINY = PrivateConfig(dim=8, seq_layers=1, seq_heads=2, max_len=6, gap_buckets=4, dropout=0.0, device="cpu")


def _chain_log(n_users: int, n_items: int, length: int, seed: int = 0) -> Interactions:
    """Every user walks the item chain i -> i + 1 (mod n_items) from a random start, one event a minute."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_items, n_users)
    user = np.repeat(np.arange(n_users), length)
    item = (starts[:, None] + np.arange(length)[None]).ravel() % n_items
    ts = np.tile(np.arange(length) * 60, n_users) + 1_700_000_000
    order = np.argsort(ts, kind="stable")
    return Interactions(user[order], item[order], ts[order], np.zeros(len(user), dtype=np.int16),
                        np.array([f"u{u}" for u in range(n_users)], dtype=object),
                        np.array([f"i{i}" for i in range(n_items)], dtype=object), ("view",))


def _rows(log: Interactions, cfg: PrivateConfig):
    state = OnlineState(log.n_users, None, cfg.memory_batch)
    state.set_histories(log)
    return windows(state, list(range(log.n_users)), cfg.max_len, cfg.gap_buckets, with_targets=True)


def _tiny_net(n_items: int = 7) -> PrivateSequenceNet:
    torch.manual_seed(0)
    text = torch.randn(n_items + 1, 5, dtype=torch.float64)
    attrs = torch.tensor([[0, 0]] + [[1 + i % 3, 0 if i % 2 else 4] for i in range(n_items)])
    return PrivateSequenceNet(TINY, n_items, 1, text, attrs, 4).double()


def _user_grads(net: torch.nn.Module, rows, users: list[int]) -> list[torch.Tensor]:
    """Each user's own gradient, flattened, by plain autograd on that user alone."""
    out = []
    for u in users:
        net.zero_grad()
        user_losses(net, rows.batch(np.array([u]), "cpu")).sum().backward()
        out.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    return out


def _private_grad(net: torch.nn.Module, rows, pieces: list[np.ndarray], clip: float, expected: int,
                  noise: float = 0.0) -> tuple[torch.Tensor, PrivateOptimizer]:
    """The gradient a DP-SGD step hands its inner optimizer (lr 0: the weights stay)."""
    opt = PrivateOptimizer(net, torch.optim.SGD(net.parameters(), lr=0.0), noise, clip, 0.5, expected,
                           generator=torch.Generator().manual_seed(0))
    opt.step(pieces, lambda module, piece: user_losses(module, rows.batch(piece, "cpu")))
    grad = torch.cat([p.grad.flatten() for p in net.parameters()])
    opt.close()
    return grad, opt


def test_each_users_gradient_is_clipped_to_the_bound_before_the_sum():
    log = _chain_log(5, 7, 5)
    rows = _rows(log, TINY)
    net = _tiny_net()
    own = _user_grads(net, rows, list(range(5)))
    clip = 0.5 * min(float(g.norm()) for g in own)  # every user is over the bound
    clipped = sum(g * min(1.0, clip / (float(g.norm()) + 1e-6)) for g in own)
    grad, _ = _private_grad(net, rows, [np.arange(5)], clip, expected=5)
    torch.testing.assert_close(grad, clipped / 5, rtol=1e-9, atol=1e-12)
    # one user alone adds exactly the bound, however large their gradient
    alone, _ = _private_grad(_tiny_net(), rows, [np.array([3])], clip, expected=1)
    assert float(alone.norm()) == pytest.approx(clip, rel=1e-6)
    # a user under the bound is not scaled: the sum is the users' own gradients
    loose, _ = _private_grad(_tiny_net(), rows, [np.arange(5)], 1e9, expected=5)
    torch.testing.assert_close(loose, sum(own) / 5, rtol=1e-9, atol=1e-12)


def test_a_batch_run_in_pieces_gives_the_same_step():
    log = _chain_log(6, 7, 6)
    log = log.subset(log.positions_in_user() >= np.array([0, 3, 0, 2, 3, 1])[log.user])
    rows = _rows(log, TINY)
    assert rows.lengths.tolist() == [5, 2, 5, 3, 2, 4]
    pieces = length_pieces(np.arange(6), rows.lengths, 8)  # at most 8 padded positions: width x rows
    assert [p.tolist() for p in pieces] == [[1, 4], [3, 5], [0], [2]]
    whole, _ = _private_grad(_tiny_net(), rows, [np.arange(6)], 0.05, expected=6)
    split, opt = _private_grad(_tiny_net(), rows, pieces, 0.05, expected=6)
    torch.testing.assert_close(split, whole, rtol=1e-9, atol=1e-12)
    assert opt.steps == 1  # one step for the accountant, however many pieces


def test_an_empty_sample_still_takes_a_noisy_step():
    rows = _rows(_chain_log(3, 7, 4), TINY)
    grad, opt = _private_grad(_tiny_net(), rows, [], 1.0, expected=4, noise=1.0)
    assert opt.steps == 1
    assert 0.1 < float(grad.std()) * 4 < 10  # noise of std noise * clip, over the expected batch


def test_no_noise_and_a_huge_bound_is_plain_sgd():
    log = _chain_log(4, 7, 5)
    rows = _rows(log, TINY)
    net = _tiny_net()
    plain = copy.deepcopy(net)
    opt = PrivateOptimizer(net, torch.optim.SGD(net.parameters(), lr=0.5), 0.0, 1e12, 1.0, 4)
    opt.step([np.arange(4)], lambda module, piece: user_losses(module, rows.batch(piece, "cpu")))
    opt.close()
    sgd = torch.optim.SGD(plain.parameters(), lr=0.5)
    user_losses(plain, rows.batch(np.arange(4), "cpu")).mean().backward()
    sgd.step()
    for (name, p), q in zip(net.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12, msg=name)
    assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), _tiny_net().parameters()))


def test_the_epsilon_is_opacus_own_accountant():
    counted = RDPAccountant()
    for _ in range(1000):
        counted.step(noise_multiplier=1.1, sample_rate=0.01)
    assert spent_epsilon(1.1, 0.01, 1000, 1e-5) == counted.get_epsilon(1e-5)
    orders = RDPAccountant.DEFAULT_ALPHAS
    by_hand = rdp.get_privacy_spent(orders=orders, rdp=rdp.compute_rdp(q=0.01, noise_multiplier=1.1, steps=1000,
                                                                       orders=orders), delta=1e-5)[0]
    assert spent_epsilon(1.1, 0.01, 1000, 1e-5) == by_hand
    prv = PRVAccountant()
    for _ in range(200):
        prv.step(noise_multiplier=1.1, sample_rate=0.01)
    assert spent_epsilon(1.1, 0.01, 200, 1e-5, "prv") == prv.get_epsilon(1e-5)
    assert spent_epsilon(0.0, 0.01, 5, 1e-5) == math.inf
    assert spent_epsilon(1.1, 0.01, 0, 1e-5) == 0.0


@pytest.mark.parametrize("target", [1.0, 4.0])
def test_the_noise_is_the_least_that_keeps_the_target(target: float):
    sigma = noise_multiplier(target, 1e-4, 0.05, 400)
    assert target - 0.01 <= spent_epsilon(sigma, 0.05, 400, 1e-4) <= target
    assert spent_epsilon(sigma * 0.98, 0.05, 400, 1e-4) > target - 0.01
    assert noise_multiplier(math.inf, 1e-4, 0.05, 400) == 0.0


def test_poisson_sampling_takes_each_row_alone():
    rng = np.random.default_rng(3)
    assert poisson_rows(5, 1.0, rng).tolist() == [0, 1, 2, 3, 4]
    assert poisson_rows(5, 0.0, rng).tolist() == []
    counts = np.bincount(np.concatenate([poisson_rows(10, 0.3, rng) for _ in range(2000)]), minlength=10)
    assert np.all(np.abs(counts / 2000 - 0.3) < 0.05)


def test_private_attention_and_encoder_compute_what_the_pipeline_modules_do():
    torch.manual_seed(1)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(3, 5, 8)
    seq = torch.tensor([[0, 0, 1, 2, 3], [1, 2, 3, 4, 5], [0, 0, 0, 0, 1]])
    mask = attention_mask(seq, 2)
    torch.testing.assert_close(PrivateSelfAttention.like(mha).eval()(x, x, x, attn_mask=mask)[0],
                               mha(x, x, x, attn_mask=mask, need_weights=False)[0])
    torch.manual_seed(2)
    plain = SequenceEncoder(8, 2, 4, 6, 2, 2, 0.0).eval()
    torch.manual_seed(2)
    private = PrivateSequenceEncoder(8, 2, 4, 6, 2, 2, 0.0).eval()
    items, types, gaps = torch.randn(3, 5, 8), (seq > 0).long(), (seq > 0).long() * 2
    torch.testing.assert_close(private(items, seq, types, gaps), plain(items, seq, types, gaps))
    torch.testing.assert_close(private.last_state(items, seq, types, gaps), plain(items, seq, types, gaps)[:, -1])


def test_the_output_layer_starts_as_the_input_item_table():
    net = _tiny_net()
    torch.testing.assert_close(net.out.weight, net.items.table()[1:])
    assert not any(p is net.items.item_id.weight for p in net.out.parameters())  # not tied
    assert "text" not in dict(net.named_parameters()) and "items.text" in dict(net.named_buffers())


def test_private_training_learns_a_planted_chain_and_reports_its_spend():
    log = _chain_log(400, 12, 7)
    nxt = np.array([(log.item[log.user == u][-1] + 1) % 12 for u in range(400)])
    cfg = PrivateConfig(dim=16, seq_layers=1, max_len=6, dropout=0.0, lr=0.02, batch_size=100, dp_epsilon=8.0,
                        dp_clip=1.0, dp_epochs=12, device="cpu", use_text=False)
    model = PrivateSequenceRecommender(cfg)
    model.fit(log)
    spend = model.privacy
    assert spend["steps"] == spend["planned_steps"] == 48 and spend["users"] == 400
    assert spend["delta"] == 1 / 400 and spend["sample_rate"] == 0.25
    assert 7.99 <= spend["epsilon"] <= 8.0
    scores = model.score(np.arange(400))
    assert (scores.argmax(1) == nxt).mean() > 0.9
    assert model.recommend(0, 1).tolist() == [nxt[0]]
    assert [e["steps"] for e in model.log] == [4 * k for k in range(1, 13)]
    assert model.log[-1]["loss"] < model.log[0]["loss"]


def test_the_time_cap_stops_early_and_reports_what_was_spent():
    log = _chain_log(40, 7, 5)
    cfg = PrivateConfig(dim=8, seq_layers=1, max_len=6, dropout=0.0, batch_size=10, dp_epochs=50, dp_epsilon=2.0,
                        max_train_s=0.0, device="cpu", use_text=False)
    out: list[dict] = []
    spend = train_private(PrivateSequenceNet(cfg, 7, 1, None), _rows(log, cfg), cfg, np.random.default_rng(0), out,
                          "cpu")
    assert spend.steps == 1 and spend.planned_steps == 200 and out[-1]["capped"]
    assert spend.epsilon == spent_epsilon(spend.noise_multiplier, 0.25, 1, 1 / 40) < 2.0


def test_the_config_and_the_harness_row():
    with pytest.raises(IgcoreError, match="sequence path alone"):
        PrivateConfig(use_graph=True)
    with pytest.raises(IgcoreError, match="dp_accountant"):
        PrivateConfig(dp_accountant="moments")
    model = build_model("igcore-dp", ModelContext(device="cpu", overrides={"dp_epsilon": "inf", "max_train_s": "300"}))
    assert isinstance(model, PrivateSequenceRecommender)
    assert math.isinf(model.cfg.dp_epsilon) and model.cfg.max_train_s == 300.0 and not model.cfg.use_graph
    assert row_name("igcore-dp", {"dp_epsilon": "1"}) == "igcore-dp[dp_epsilon=1]"
