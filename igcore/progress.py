"""Progress reporting shared by the CLI (a text bar) and the dashboard (``st.progress``).

A progress callback is any callable ``(stage, done, total, info)``; stages report in their own units
(bytes while hashing, rows while reading) and ``total`` may be 0 when unknown.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def __call__(self, stage: str, done: int, total: int, info: dict[str, Any]) -> None: ...


def no_progress(stage: str, done: int, total: int, info: dict[str, Any]) -> None:
    """The default callback: report nothing."""


class TextProgressBar:
    """Draws ``stage [#####.....] 42%`` on a terminal, at most ten times a second; silent when not a TTY."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self._last = 0.0
        self._enabled = stream.isatty()

    def __call__(self, stage: str, done: int, total: int, info: dict[str, Any]) -> None:
        if stage == "train" and "epoch" in info:  # one line an epoch, on a terminal or not
            self.stream.write(("\r" if self._enabled else "") + epoch_line(info) + "\n")
            self.stream.flush()
        if not self._enabled:
            return
        now = time.monotonic()
        finished = total > 0 and done >= total
        if not finished and now - self._last < 0.1:
            return
        self._last = now
        frac = min(done / total, 1.0) if total > 0 else 0.0
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{stage:<10} [{bar}] {frac:6.1%}")
        if finished:
            self.stream.write("\n")
        self.stream.flush()


def epoch_line(info: dict[str, Any]) -> str:
    """What one training epoch reports, in one line: epoch, loss, validation NDCG@10 (when validated), seconds."""
    valid = f"  valid NDCG@10 {info['valid_ndcg@10']:.4f}" if "valid_ndcg@10" in info else ""
    seconds = f"  {info['s']:.0f} s" if "s" in info else ""
    return f"epoch {info['epoch']}  loss {info['loss']:.4f}{valid}{seconds}"
