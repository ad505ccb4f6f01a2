"""The spectral mix of BSARec's frequency filter: a sequence's lowest frequencies kept, the rest scaled.

For (B, w, d) states of left-padded sequences (padded positions zero): the real FFT over ``max_len`` positions
(``norm='ortho'``), its ``c // 2 + 1`` lowest rfft bins kept as the low-pass part, and the output
low-pass + beta * (input - low-pass) with a learned per-dimension beta = sqrt_beta ** 2 (never negative). The
input of width w is zero-extended to ``max_len``: a frequency mask commutes with a circular shift, so the first w
outputs of the right-extended sequence equal the last w outputs of the left-padded one, and a user's output does
not depend on the width of the batch it shares (``igcore.evaluate.bsarec`` says more). The low-pass is linear
in the input, so it is computed once, as the (max_len, max_len) response of the FFT round trip to each unit
impulse, and applied to a batch of width w as its top-left (w, w) block: a small matrix product in place of two
FFTs over the zero-extended width.

Not causal: every output position reads the whole input. A model that mixes with it may train on prefixes only,
the loss at the last position (on windows with a target at every position it would read the targets).
"""

from __future__ import annotations

import torch
from torch import nn


class SpectralMix(nn.Module):
    """low-pass + beta * high-pass of left-padded (B, w, dim) states, ``c`` frequencies kept as the low part."""

    def __init__(self, dim: int, c: int, max_len: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.kept_bins = c // 2 + 1
        self.sqrt_beta = nn.Parameter(torch.randn(dim))
        impulses = torch.eye(max_len, dtype=torch.float64)  # column s: the unit impulse at position s
        spectrum = torch.fft.rfft(impulses, n=max_len, dim=0, norm="ortho")[:self.kept_bins]
        # irfft zero-fills the dropped bins; row t, column s: what position s adds to position t's low-pass part
        kernel = torch.fft.irfft(spectrum, n=max_len, dim=0, norm="ortho")
        self.register_buffer("kernel", kernel.float(), persistent=False)

    def low_pass(self, x: torch.Tensor) -> torch.Tensor:
        """Low-pass part of (B, w, dim) states whose w positions are the last of a zero-padded ``max_len``."""
        width = x.shape[1]
        if width > self.max_len:
            raise ValueError(f"sequence width {width} exceeds max_len {self.max_len}")
        # zero-extension on the right is a circular shift of left padding: the kernel's first rows and columns
        return self.kernel[:width, :width].to(x.dtype) @ x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low_pass(x)
        return low + self.sqrt_beta**2 * (x - low)
