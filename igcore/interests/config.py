"""Settings of the interest graphs: what an interest is, how evidence is weighed, when snapshots are taken.

Layered like every igcore config: the defaults here < a TOML/JSON file < ``key=value`` overrides
(:func:`igcore.config.load_config`). Snapshots remember the config they were built with, so an incremental
update never mixes two definitions of an interest.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from igcore.errors import IgcoreError

SOURCES = ("auto", "category", "brand", "cluster")
VECTOR_SOURCES = ("auto", "model", "text", "tokens")
DAY_S = 86400.0

# Stronger actions are stronger evidence of interest: view < cart < wishlist < purchase.
DEFAULT_TYPE_WEIGHTS: dict[str, float] = {"view": 1.0, "cart": 2.0, "wishlist": 3.0, "purchase": 5.0}


@dataclasses.dataclass(frozen=True)
class InterestConfig:
    """How interests are defined, weighed, snapshotted and watched for drift."""

    # interest nodes
    source: str = "auto"  # auto | category | brand | cluster, or a comma list (category,brand): first is primary
    n_clusters: int = 24  # K of the k-means over item vectors (source cluster)
    item_vectors: str = "auto"  # auto (model > cached text vectors > tokens) | model | text | tokens
    max_attribute_nodes: int = 200  # auto uses categories (then brands) only when there are at most this many
    seed: int = 0
    # evidence
    event_type_weights: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_TYPE_WEIGHTS))
    default_type_weight: float = 1.0  # for types not listed (review, interaction, ...)
    half_life_days: float = 14.0
    # snapshots
    cadence: str = "events:5"  # events:N (after the first and every N-th event) | day | week (last event of each)
    session_gap_minutes: float = 30.0  # a longer pause starts a new session (for co-occurrence edges)
    top_items: int = 3  # a user's own items shown per interest
    top_k: int = 10  # recommendations stored per snapshot
    evidence_pool: int = 4096  # the evidence scorer ranks at most this many items (each interest's most used first)
    exclude_seen: bool = True  # recommendations leave out items the user already interacted with
    min_predicted_share: float = 0.01  # predicted-only interests below this share are not stored
    # drift between consecutive snapshots (the timeline)
    emerge_delta: float = 0.2  # a share that rises (falls) this much between snapshots is emerging (fading)
    # change points (see igcore.interests.changes)
    drift_step: int = 5  # candidate change points every this many events
    drift_min_history: int = 20  # events before the first candidate
    drift_window_before: int = 30  # events in the "before" window
    drift_window_after: int = 40  # events in the "after" window (fewer at the end of a history)
    drift_min_after: int = 10  # events needed after a candidate to judge it
    drift_new_share: float = 0.02  # an emerging interest had at most this share of all earlier events
    drift_emerge_share: float = 0.25  # ... and has at least this share of the "after" window
    drift_min_jsd: float = 0.35  # Jensen-Shannon divergence (base 2) between the windows, at least

    def __post_init__(self) -> None:
        parse_cadence(self.cadence)
        kinds = self.kinds()
        if not kinds or any(k not in SOURCES for k in kinds) or ("auto" in kinds and len(kinds) > 1):
            raise IgcoreError(f"source {self.source!r}: use auto, or a comma list of category, brand, cluster")
        if self.item_vectors not in VECTOR_SOURCES:
            raise IgcoreError(f"item_vectors {self.item_vectors!r}: valid values are {', '.join(VECTOR_SOURCES)}")
        if min(self.half_life_days, self.n_clusters, self.top_k, self.drift_step, self.evidence_pool) <= 0:
            raise IgcoreError("half_life_days, n_clusters, top_k, drift_step and evidence_pool must be positive")

    def kinds(self) -> list[str]:
        return [k.strip() for k in self.source.split(",") if k.strip()]

    @property
    def half_life_s(self) -> float:
        return self.half_life_days * DAY_S

    def type_weight(self, event_type: str) -> float:
        return float(self.event_type_weights.get(event_type, self.default_type_weight))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> InterestConfig:
        data: dict[str, Any] = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


_CADENCE = re.compile(r"^(?:events:(\d+)|day|week)$")


def parse_cadence(cadence: str) -> tuple[str, int]:
    """``events:N`` -> ("events", N); ``day`` / ``week`` -> (that, 0)."""
    match = _CADENCE.match(cadence.strip())
    if not match or (match.group(1) is not None and int(match.group(1)) < 1):
        raise IgcoreError(f"cadence {cadence!r}: use events:N (N >= 1), day or week")
    return ("events", int(match.group(1))) if match.group(1) else (cadence.strip(), 0)
