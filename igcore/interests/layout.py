"""Where each node of a drawn interest graph goes: the user at the centre, interests around it, each interest's
items and recommendations further out in that interest's own sector, and no two labels on top of each other.

The browser only draws these fixed positions (no physics), so the picture is settled before it is shown and is
the same on every load. Pure functions over label boxes estimated from the label's length; the overlap check in
the browser test reads the boxes the browser actually drew.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

FONT_PX = 14
CHAR_PX = 0.62 * FONT_PX  # a generous average advance of a sans-serif face, so estimates err on the wide side
RADII = (0.0, 130.0, 250.0, 340.0)  # ring 0: the user; 1: interests; 2: their items; 3: recommendations
ASPECT = 1.3  # rings are ellipses this much wider than tall, like the frame that shows them
MARGIN = 8.0  # the least gap between two label boxes


@dataclasses.dataclass(frozen=True)
class Box:
    """One node to place: its id, the size of what the browser draws for it, its ring and the interest it
    belongs to (None for the user and the interests themselves)."""

    id: str
    width: float
    height: float
    ring: int
    parent: str | None = None


def box_size(label: str, shape: str, size: float = 0.0) -> tuple[float, float]:
    """Estimated width and height of a node as drawn: a ``box`` holds its label; a ``dot`` or ``star`` of radius
    ``size`` has its label below it."""
    text = CHAR_PX * len(label)
    line = 1.3 * FONT_PX
    if shape == "box":
        return text + 14.0, line + 12.0
    return max(2.0 * size, text) + 4.0, 2.0 * size + line + 8.0


def radial_layout(boxes: Sequence[Box], rounds: int = 400) -> dict[str, tuple[float, float]]:
    """Positions (x, y) for ``boxes``: ring 0 at the origin; ring-1 nodes spread around it, each given an angular
    sector in proportion to how many nodes hang under it; the others placed in their parent's sector on their
    ring; then overlapping boxes pushed apart (:func:`separate`), the ring-0 node fixed."""
    parents = [b for b in boxes if b.ring == 1]
    children: dict[str, list[Box]] = {p.id: [] for p in parents}
    for b in boxes:
        if b.ring > 1 and b.parent in children:
            children[b.parent].append(b)
    weight = np.array([1.0 + len(children[p.id]) for p in parents])
    edges = np.concatenate([[0.0], np.cumsum(weight)]) / max(weight.sum(), 1.0) * 2 * math.pi - math.pi / 2
    pos: dict[str, tuple[float, float]] = {}
    for i, p in enumerate(parents):
        lo, hi = edges[i], edges[i + 1]
        pos[p.id] = _on_ring(1, (lo + hi) / 2)
        for ring in sorted({c.ring for c in children[p.id]}):
            own = [c for c in children[p.id] if c.ring == ring]
            for j, c in enumerate(own):
                pos[c.id] = _on_ring(ring, lo + (hi - lo) * (j + 0.5) / len(own))
    for b in boxes:
        pos.setdefault(b.id, (0.0, 0.0) if b.ring == 0 else _on_ring(b.ring, 0.0))
    ids = [b.id for b in boxes]
    xy = separate(np.array([pos[i] for i in ids]), np.array([[b.width, b.height] for b in boxes]),
                  np.array([b.ring == 0 for b in boxes]), rounds)
    return {i: (round(float(x), 1), round(float(y), 1)) for i, (x, y) in zip(ids, xy, strict=True)}


def _on_ring(ring: int, angle: float) -> tuple[float, float]:
    r = RADII[min(ring, len(RADII) - 1)]
    return r * ASPECT * math.cos(angle), r * math.sin(angle)


def overlaps(xy: np.ndarray, size: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Pairs (i, j), i < j, whose boxes (centres ``xy``, widths and heights ``size``) come closer than
    ``margin``."""
    gap = np.abs(xy[:, None, :] - xy[None, :, :]) - (size[:, None, :] + size[None, :, :]) / 2
    hit = (gap < margin).all(axis=2)
    return np.argwhere(np.triu(hit, k=1))


def separate(xy: np.ndarray, size: np.ndarray, fixed: np.ndarray, rounds: int = 400,
             margin: float = MARGIN) -> np.ndarray:
    """Push overlapping boxes apart until none overlaps (or ``rounds`` run out): each overlapping pair moves
    apart along the axis where it overlaps less, by the overlap plus ``margin``, shared between the two
    (a fixed box does not move). Deterministic: coincident boxes part by their order."""
    xy = xy.astype(np.float64).copy()
    for _ in range(rounds):
        pairs = overlaps(xy, size, margin)
        if len(pairs) == 0:
            break
        i, j = pairs[:, 0], pairs[:, 1]
        delta = xy[j] - xy[i]
        need = (size[i] + size[j]) / 2 + margin - np.abs(delta)
        axis = np.argmin(need, axis=1)  # the cheaper way out
        sign = np.sign(delta[np.arange(len(pairs)), axis])
        sign[sign == 0] = 1.0
        push = np.zeros_like(xy[i])
        push[np.arange(len(pairs)), axis] = sign * need[np.arange(len(pairs)), axis] * 0.55
        share_i = np.where(fixed[i], 0.0, np.where(fixed[j], 1.0, 0.5))[:, None]
        move = np.zeros_like(xy)
        np.add.at(move, i, -push * share_i * 2)
        np.add.at(move, j, push * (1 - share_i) * 2)
        counts = np.bincount(np.concatenate([i, j]), minlength=len(xy))[:, None]
        xy += move / np.maximum(counts, 1) ** 0.5
    return xy
