"""The workers of one training run and how they agree: one process (the default), or data-parallel workers joined
by a torch.distributed process group (:mod:`igcore.pipeline.ray_train` starts them).

Data-parallel training splits the users, never a user's events: worker ``rank`` of ``size`` trains the windows of
the users ``u`` with ``u % size == rank``, so no user is on two workers and every user is on one. Every worker
builds the same model over the whole training log (the graph and the memory replay read every event); the
gradients of each step are averaged by DistributedDataParallel, so the weights stay identical on every worker.
Validation is scored on each worker's own validation users and averaged over all of them, and the time cap
stops every worker after the same epoch, so early stopping picks the same epoch everywhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class Workers:
    """This process's place among the training workers; ``Workers()`` is a run of one process."""

    rank: int = 0
    size: int = 1
    device: str = "cpu"  # where the collectives' tensors live (the process group's backend needs it)

    @property
    def parallel(self) -> bool:
        return self.size > 1

    def owns(self, users: np.ndarray) -> np.ndarray:
        """Mask of the ``users`` (indices) whose windows this worker trains."""
        return np.asarray(users) % self.size == self.rank

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` as the training step calls it: wrapped in DistributedDataParallel when data-parallel
        (gradients averaged over the workers at each backward). Some parameters sit out some steps (the graph's
        when a batch holds no user's last position); the buffers are the memory's replayed state, the same on
        every worker, so they are not broadcast at each step."""
        if not self.parallel:
            return module
        return nn.parallel.DistributedDataParallel(module, find_unused_parameters=True,
                                                     forward_sync_buffers=False)

    @contextlib.contextmanager
    def uneven(self, step: nn.Module) -> Iterator[None]:
        """An epoch in which workers may run different numbers of batches (shards differ in size): a worker
        that has finished keeps answering the others' gradient averaging until all have."""
        if not self.parallel:
            yield
            return
        from torch.distributed.algorithms.join import Join

        with Join([step]):
            yield

    def mean(self, value: float, weight: float) -> float:
        """The ``weight``-weighted mean of every worker's ``value`` (a worker with weight 0 adds nothing)."""
        if not self.parallel:
            return value
        both = torch.tensor([value * weight, weight], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(both)
        return float(both[0] / both[1]) if both[1] > 0 else 0.0

    def any(self, flag: bool) -> bool:
        """True on every worker when it is true on any (e.g. one worker ran out of time)."""
        return self.total(int(flag)) > 0

    def total(self, count: int) -> int:
        """The sum of every worker's ``count``."""
        if not self.parallel:
            return count
        value = torch.tensor([count], dtype=torch.int64, device=self.device)
        torch.distributed.all_reduce(value)
        return int(value.item())

    def each(self, count: int) -> list[int]:
        """Every worker's ``count``, in rank order."""
        if not self.parallel:
            return [count]
        out = [torch.zeros(1, dtype=torch.int64, device=self.device) for _ in range(self.size)]
        torch.distributed.all_gather(out, torch.tensor([count], dtype=torch.int64, device=self.device))
        return [int(t.item()) for t in out]


ALONE = Workers()
