"""The sequence encoder's frequency mixer (BSARec's spectral mix beside attention): what it reads, that a user's
states do not depend on the batch, that training refuses windows and learns on prefixes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from igcore.encode.sequence import SequenceEncoder
from igcore.errors import IgcoreError
from igcore.evaluate.splits import leave_one_out
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.model import IgcoreRecommender
from tests.conftest import cycle_log


def _encoder(mixer: str) -> SequenceEncoder:
    torch.manual_seed(0)
    return SequenceEncoder(8, n_types=2, n_gap_buckets=4, max_len=6, layers=2, heads=2, dropout=0.0,
                           mixer=mixer).eval()


def _states(encoder: SequenceEncoder, seq: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(1)
    items = torch.randn(10, 8) * 0.1
    with torch.no_grad():
        return encoder(items, seq, (seq > 0).long(), (seq > 0).long() * 2)


def test_a_users_frequency_mixed_states_do_not_depend_on_batch_width_or_on_other_users():
    encoder = _encoder("frequency")
    short = torch.tensor([[0, 0, 0, 0, 3, 7]])
    alone = _states(encoder, short[:, -2:])[:, -1]  # cut to its own width, as a batch of short sequences is
    full = _states(encoder, short)[:, -1]
    beside_long = _states(encoder, torch.tensor([[0, 0, 0, 0, 3, 7], [1, 2, 3, 4, 5, 6]]))[:1, -1]
    assert torch.allclose(alone, full, atol=1e-5) and torch.allclose(alone, beside_long, atol=1e-5)
    items = torch.randn(10, 8)
    with torch.no_grad():
        last = encoder.last_state(items, short, (short > 0).long(), (short > 0).long())
        assert torch.allclose(last, encoder(items, short, (short > 0).long(), (short > 0).long())[:, -1])


def test_the_frequency_mixer_reads_later_positions_and_attention_does_not():
    before, after = torch.tensor([[0, 1, 2, 3, 4, 5]]), torch.tensor([[0, 1, 2, 3, 4, 9]])
    for mixer, causal in (("attention", True), ("frequency", False)):
        encoder = _encoder(mixer)
        assert encoder.causal == causal
        earlier = [_states(encoder, seq)[0, -2] for seq in (before, after)]
        assert torch.allclose(*earlier, atol=1e-6) == causal  # position 5's state, position 6's item changed
    with pytest.raises(ValueError, match="mixer must be one of attention, frequency"):
        SequenceEncoder(8, 2, 4, 6, 1, 1, 0.0, mixer="fourier")



MIXED = PipelineConfig(dim=16, max_len=8, epochs=10, eval_every=1, patience=10, batch_size=64, lr=1e-2,
                       memory_dim=8, time_dim=4, dropout=0.0, source_dropout=0.0, device="cpu",
                       seq_mixer="frequency", samples="prefixes")


def test_a_frequency_mixer_refuses_windows_and_learns_the_next_item_rule_on_prefixes():
    split = leave_one_out(cycle_log())
    with pytest.raises(IgcoreError, match="trains on prefixes only"):
        IgcoreRecommender(dataclasses.replace(MIXED, samples="positions")).fit(split.train)
    model = IgcoreRecommender(MIXED)
    model.fit(split.train, split.valid)
    checks = [e["valid_ndcg@10"] for e in model.log if "valid_ndcg@10" in e]
    assert max(checks) == 1.0  # every validation target ranked first
    assert model.log[-1]["loss"] < model.log[0]["loss"] / 2
    assert np.isfinite(model.score(np.arange(3))).all()
