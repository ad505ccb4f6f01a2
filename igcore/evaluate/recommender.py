"""The ``Recommender`` protocol shared by the model and every baseline (docs/ARCHITECTURE.md: "Where to add")."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from igcore.events import Interactions


@runtime_checkable
class Recommender(Protocol):
    name: str

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        """Learn from ``train``; ``valid`` (later events) may be used for early stopping only."""

    def update(self, events: Interactions) -> None:
        """Take in new events online: state only, no gradient steps, cost proportional to ``events``."""

    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        """Scores of every item for each user, shape (len(users), n_items); ``at`` = time (unix s), if used."""

    def recommend(self, user: int, k: int = 10, at: int | None = None) -> np.ndarray:
        """The top-k item indices for one user."""
