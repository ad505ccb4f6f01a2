"""DP-SGD with Opacus, one user as the unit of privacy: Poisson-sampled users, each user's gradient clipped,
Gaussian noise on their sum, and the accountant's epsilon for the steps taken.

A training row is one user (their whole window, :func:`igcore.pipeline.windows.training_windows`), so clipping
each row's gradient to ``clip`` bounds what any one user adds to a step, and the accountant's guarantee is about
users, not events. Each step samples every user independently with probability ``sample_rate`` (Poisson
sampling, which the accountant's subsampling analysis assumes); the clipped sum gets noise of standard deviation
``noise_multiplier * clip`` and is divided by the expected batch size, as Opacus's ``DPOptimizer`` does.

Per-user gradient norms come from Opacus's ghost clipping (``GradSampleModuleFastGradientClipping``): the norms
are computed from each layer's activations and output gradients without forming per-user gradients of the output
layer, whose (users x catalogue x dim) tensor would dominate a step; a second backward pass then sums the
clipped gradients. A sampled batch may be run as several length-sorted pieces (:meth:`PrivateOptimizer.step`):
each user is clipped as a whole within its piece, and noise is added once per step.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch

from igcore.errors import IgcoreError

try:
    from opacus.accountants import create_accountant
    from opacus.accountants.utils import get_noise_multiplier
    from opacus.grad_sample import GradSampleModuleFastGradientClipping
    from opacus.optimizers import DPOptimizerFastGradientClipping
    from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
except ImportError as exc:  # an optional extra: only private training needs it
    raise IgcoreError("private training needs Opacus: pip install -e '.[privacy]'") from exc

ACCOUNTANTS = ("rdp", "prv")


def noise_multiplier(target_epsilon: float, delta: float, sample_rate: float, steps: int,
                     accountant: str = "rdp") -> float:
    """The smallest noise multiplier (to Opacus's search tolerance) whose ``steps`` Poisson-sampled steps spend
    at most ``target_epsilon`` at ``delta``; 0 for an infinite epsilon (no privacy asked)."""
    if math.isinf(target_epsilon):
        return 0.0
    return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
                                      steps=steps, accountant=accountant))


def spent_epsilon(noise: float, sample_rate: float, steps: int, delta: float, accountant: str = "rdp") -> float:
    """Epsilon at ``delta`` of ``steps`` steps with this noise and sampling (Opacus's accountant); infinite for
    any step without noise, 0 for no step."""
    if steps == 0:
        return 0.0
    if noise == 0:
        return math.inf
    counter = create_accountant(accountant)
    counter.history = [(noise, sample_rate, steps)]
    return float(counter.get_epsilon(delta))


def poisson_rows(n_rows: int, sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """The rows of one step: each of ``n_rows`` independently with probability ``sample_rate``."""
    return np.flatnonzero(rng.random(n_rows) < sample_rate)


def length_pieces(rows: np.ndarray, lengths: np.ndarray, max_positions: int) -> list[np.ndarray]:
    """``rows`` sorted by length and cut into pieces of at most ``max_positions`` padded positions (a piece is
    cut to its longest row, so short rows do not pay for long ones); a row longer than that is a piece alone."""
    order = rows[np.argsort(lengths[rows], kind="stable")]
    pieces, start = [], 0
    for end in range(1, len(order) + 1):
        if end == len(order) or (end + 1 - start) * int(lengths[order[end]]) > max_positions:
            pieces.append(order[start:end])
            start = end
    return pieces


@dataclasses.dataclass(frozen=True)
class PrivacySpend:
    """What a private training spent, and with what: the figures to report beside its accuracy."""

    epsilon: float  # spent, by the accountant, over the steps taken (inf: not private)
    delta: float
    target_epsilon: float  # what the noise was calibrated to, over the planned steps
    noise_multiplier: float
    clip: float  # the bound on each user's gradient norm in every step
    sample_rate: float
    steps: int
    planned_steps: int
    users: int
    accountant: str

    def as_dict(self) -> dict:
        """JSON-safe: an infinite epsilon (non-private) is None."""
        out = dataclasses.asdict(self)
        return {k: None if isinstance(v, float) and math.isinf(v) else v for k, v in out.items()}


class PrivateOptimizer:
    """DP-SGD steps over ``net``: ``inner`` (any torch optimizer over ``net``'s parameters) steps on the noisy
    mean of the users' clipped gradients, and the accountant counts each step at ``sample_rate``."""

    def __init__(self, net: torch.nn.Module, inner: torch.optim.Optimizer, noise: float, clip: float,
                 sample_rate: float, expected_batch: int, accountant: str = "rdp",
                 generator: torch.Generator | None = None) -> None:
        if accountant not in ACCOUNTANTS:
            raise ValueError(f"unknown accountant {accountant!r}; valid names: {', '.join(ACCOUNTANTS)}")
        self.module = GradSampleModuleFastGradientClipping(net, batch_first=True, loss_reduction="mean",
                                                           max_grad_norm=clip, use_ghost_clipping=True)
        self.optimizer = DPOptimizerFastGradientClipping(inner, noise_multiplier=noise, max_grad_norm=clip,
                                                         expected_batch_size=expected_batch, loss_reduction="mean",
                                                         generator=generator)
        self.accountant = create_accountant(accountant)
        self.optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=sample_rate))
        self.sample_rate, self.accountant_name = sample_rate, accountant

    @property
    def steps(self) -> int:
        return sum(n for _, _, n in self.accountant.history)

    def step(self, pieces: Sequence[object], user_losses: Callable[[torch.nn.Module, object], torch.Tensor]) -> float:
        """One DP-SGD step over a sampled batch given as ``pieces``: ``user_losses(module, piece)`` is each user's
        loss (n,) in that piece, computed through ``module`` (the hooked network). Returns the mean user loss;
        an empty sample still takes its step (noise alone), as the accountant assumes."""
        total, n = 0.0, 0
        self.optimizer.zero_grad(set_to_none=True)
        for i, piece in enumerate(pieces):
            losses = user_losses(self.module, piece)
            if i < len(pieces) - 1:
                self.optimizer.signal_skip_step(True)
            with warnings.catch_warnings():  # Opacus's hooks on modules whose inputs need no gradient
                warnings.filterwarnings("ignore", "Full backward hook is firing", UserWarning)
                DPTensorFastGradientClipping(self.module, self.optimizer, losses, "mean").backward()
            total, n = total + float(losses.detach().sum()), n + len(losses)
            if i < len(pieces) - 1:
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
        if not pieces:
            for p in self.optimizer.params:
                p.grad = torch.zeros_like(p)
        self.optimizer.step()
        return total / max(n, 1)

    def epsilon(self, delta: float) -> float:
        """Spent so far, at ``delta``."""
        return spent_epsilon(self.optimizer.noise_multiplier, self.sample_rate, self.steps, delta,
                             self.accountant_name)

    def close(self) -> None:
        """Remove Opacus's hooks: the network scores as a plain module afterwards."""
        self.module._close()
