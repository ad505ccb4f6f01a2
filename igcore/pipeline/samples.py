"""Which training rows a sequence model trains on: one window per user, or one prefix per target.

Torch-free, so that what serving and the dashboard read (a checkpoint's recorded rows) does not import torch.
"""

from __future__ import annotations

import numpy as np

from igcore.errors import IgcoreError
from igcore.events import Interactions

SAMPLES = ("prefixes", "positions")  # training rows of the sequence models: one per target, or one per window
ROW_NAMES = {"prefixes": "prefixes", "positions": "windows"}  # what a user reads for each kind of training rows


def resolve_samples(samples: str, train: Interactions, max_len: int, limit: float) -> str:
    """The training rows ``samples`` ("positions", "prefixes" or "auto") gives on ``train``: "auto" takes
    prefixes where :func:`prefixes_pay`, else positions."""
    if samples not in (*SAMPLES, "auto"):
        raise IgcoreError(f"samples must be one of {', '.join(SAMPLES)}, auto, not {samples!r}")
    if samples == "auto":
        return "prefixes" if prefixes_pay(train, max_len, limit) else "positions"
    return samples


def prefixes_pay(train: Interactions, max_len: int, limit: float) -> bool:
    """Whether ``samples="auto"`` trains ``train`` on prefixes: where users' windows hold on average at most
    ``limit`` targets. A prefix epoch takes that mean times a window epoch's optimiser steps, each on one target
    per row; on long windows those rows overlap almost wholly, and at the shared learning rate training then
    overfits within part of one epoch, while on short histories prefixes train better (docs/BENCHMARKS.md)."""
    sizes = np.bincount(train.user, minlength=train.n_users)
    targets = np.minimum(sizes[sizes >= 2] - 1, max_len)
    return len(targets) > 0 and float(targets.mean()) <= limit
