"""``--device auto|cpu|cuda``: one resolver for every stage that uses torch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from igcore.errors import IgcoreError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; asking for CUDA without one is a clear error. (torch is
    imported here, not with the module: pages that only read the store name the devices without it.)"""
    import torch

    if name not in DEVICES:
        raise IgcoreError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise IgcoreError("device cuda asked for, but no CUDA GPU is available; use --device cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def off_device(tensors: Iterable[tuple[str, torch.Tensor]], device: torch.device | str) -> dict[str, str]:
    """Name -> device of each tensor not on ``device`` (its type: any CUDA index counts as CUDA): the audit
    that a model's training, online state and serving all run where they were asked to."""
    import torch

    want = torch.device(device).type
    return {name: str(t.device) for name, t in tensors if t.device.type != want}
