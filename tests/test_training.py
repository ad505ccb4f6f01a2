"""The shared training loop: early stopping on a scripted validation curve, and length-bucketed batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igcore.pipeline.training import fit_with_early_stopping, length_batches


def _fit(curve: list[float], patience: int, eval_every: int = 1, epochs: int = 20,
         max_seconds: float = 1e9) -> tuple[list[dict], float]:
    """Train a one-weight module whose weight is the epoch number, validated on ``curve`` (one score per check);
    return the log and the weight left in the module (the epoch whose weights were kept)."""
    module = torch.nn.Linear(1, 1, bias=False)
    scores = iter(curve)

    def run_epoch(epoch: int) -> float:
        with torch.no_grad():
            module.weight.fill_(epoch)
        return 0.0

    log: list[dict] = []
    fit_with_early_stopping(module, run_epoch, lambda: next(scores), epochs, eval_every, patience, max_seconds, log)
    return log, float(module.weight.item())


def test_stops_patience_checks_after_the_best_and_keeps_its_weights():
    # best at epoch 4; a one-epoch dip at 3 does not stop it; epochs 5 and 6 do not improve
    log, kept = _fit([0.1, 0.3, 0.2, 0.4, 0.35, 0.39, 0.5], patience=2)
    assert [e["epoch"] for e in log] == [1, 2, 3, 4, 5, 6]
    assert kept == 4.0
    assert [e["valid_ndcg@10"] for e in log] == [0.1, 0.3, 0.2, 0.4, 0.35, 0.39]


def test_a_tie_is_no_improvement_and_checks_count_not_epochs():
    # validated every second epoch: the best check (epoch 4) is followed by two checks that do not beat it
    log, kept = _fit([0.2, 0.3, 0.3, 0.1, 0.9], patience=2, eval_every=2)
    assert [e["epoch"] for e in log] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e["epoch"] for e in log if "valid_ndcg@10" in e] == [2, 4, 6, 8]
    assert kept == 4.0


def test_the_last_epoch_is_always_validated():
    log, kept = _fit([0.1, 0.2, 0.3], patience=2, eval_every=2, epochs=5)
    assert [e["epoch"] for e in log if "valid_ndcg@10" in e] == [2, 4, 5]
    assert kept == 5.0


def test_the_time_cap_validates_the_epoch_it_ends_and_stops():
    log, kept = _fit([0.1], patience=2, eval_every=5, max_seconds=0.0)
    assert [(e["epoch"], e["valid_ndcg@10"]) for e in log] == [(1, 0.1)]
    assert kept == 1.0


@pytest.mark.parametrize("batch_size", [2, 3])
def test_length_batches_cover_every_sequence_once_and_group_lengths(batch_size: int):
    lengths = np.array([5, 1, 5, 3, 1, 3, 5])
    batches = length_batches(lengths, batch_size, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert all(len(b) <= batch_size for b in batches)
    # cut from the length-sorted order: put back in order of their shortest member, the batches' lengths ascend
    ordered = sorted(batches, key=lambda b: (lengths[b].min(), lengths[b].max()))
    joined = np.concatenate([np.sort(lengths[b]) for b in ordered])
    assert joined.tolist() == sorted(lengths.tolist())


def test_rows_batched_apart_share_batches_only_with_each_other():
    lengths = np.array([5, 1, 5, 3, 1, 3, 4, 2])
    apart = np.array([True, False, False, True, False, False, True, False])
    batches = length_batches(lengths, 2, np.random.default_rng(0), apart)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert sorted(sorted(b.tolist()) for b in batches if apart[b].all()) == [[0], [3, 6]]  # lengths 3, 4; 5
    assert all(not apart[b].any() for b in batches if not apart[b].all())
    assert len(batches) == 2 + 3  # 3 rows apart in batches of 2, and 5 others


def test_validation_scores_in_chunks_bounded_in_users_and_in_scores(monkeypatch):
    from igcore.pipeline import training

    asked: list[int] = []

    def score(users: np.ndarray) -> np.ndarray:
        asked.append(len(users))
        out = np.zeros((len(users), 4))
        out[:, 1] = 1.0  # item 1 ranks first for everyone
        return out

    monkeypatch.setattr(training, "SCORE_USERS", 3)
    monkeypatch.setattr(training, "SCORE_CELLS", 8)
    users, items = np.arange(7), np.ones(7, dtype=np.int64)
    assert training.validation_ndcg(score, [np.array([], dtype=np.int64)] * 7, users, items, True, 4) == 1.0
    assert asked == [2, 2, 2, 1]  # 8 cells of 4 items: 2 users at a time
    asked.clear()
    training.validation_ndcg(score, [np.array([], dtype=np.int64)] * 7, users, items, False, 2)
    assert asked == [3, 3, 1]  # 8 cells of 2 items would be 4 users: at most 3
