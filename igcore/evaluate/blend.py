"""Mixing fitted models at the score: what one model's signal adds to another's, measured under the harness's
protocols without training anything new.

:class:`Blend` is a :class:`~igcore.evaluate.recommender.Recommender` over already fitted models: each model's
scores are standardised per user (so that models of different scales mix by a weight that means the same for
every user) and summed with the blend's weights. :class:`Recorded` lets many blends of the same models be
measured for the cost of scoring each model once: it records a model's answers during the first measurement
and replays them, in the same order, during the next ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from igcore.errors import IgcoreError
from igcore.evaluate.recommender import Recommender
from igcore.events import Interactions
from igcore.ranking import standardise, top_k


class Recorded:
    """A fitted model whose ``score`` answers are recorded while ``recording`` and replayed afterwards.

    Measuring a blend feeds events (``update``) and asks for scores in an order the protocol fixes, so a second
    measurement of the same protocol asks the same questions in the same order: :meth:`rewind` starts the replay,
    which checks each question against the recorded one and forwards no more updates (the model's state already
    holds them)."""

    def __init__(self, model: Recommender) -> None:
        self.model = model
        self.name = getattr(model, "name", type(model).__name__)
        self.recording = True
        self._answers: list[tuple[np.ndarray, int | None, np.ndarray]] = []
        self._cursor = 0

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        raise IgcoreError("a recorded model is already fitted")

    def update(self, events: Interactions) -> None:
        if self.recording:
            self.model.update(events)

    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        if self.recording:
            out = np.asarray(self.model.score(users, at=at), dtype=np.float32)
            self._answers.append((np.asarray(users).copy(), at, out))
            return out
        if self._cursor >= len(self._answers):
            raise IgcoreError("replay asked more questions than were recorded")
        asked, asked_at, out = self._answers[self._cursor]
        if asked_at != at or not np.array_equal(asked, users):
            raise IgcoreError("replay asked a different question than was recorded")
        self._cursor += 1
        return out

    def rewind(self) -> None:
        """Stop recording and replay from the first recorded answer."""
        self.recording, self._cursor = False, 0

    def recommend(self, user: int, k: int = 10, at: int | None = None) -> np.ndarray:
        return top_k(self.score(np.array([user]), at=at), k)[0]


class Blend:
    """Fitted models mixed at the score: ``sum(weight * standardise(model.score(users)))``."""

    def __init__(self, models: Sequence[Recommender], weights: Sequence[float]) -> None:
        if len(models) != len(weights) or not models:
            raise IgcoreError("a blend needs one weight per model, and at least one model")
        self.models, self.weights = list(models), [float(w) for w in weights]
        self.name = " + ".join(f"{w:g}·{getattr(m, 'name', type(m).__name__)}" for m, w in zip(models, weights))

    def fit(self, train: Interactions, valid: Interactions | None = None) -> None:
        raise IgcoreError("a blend mixes fitted models: fit each model first")

    def update(self, events: Interactions) -> None:
        for model in self.models:
            model.update(events)

    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        parts = [weight * standardise(model.score(users, at=at))  # every model answers: a replay stays in step
                 for model, weight in zip(self.models, self.weights)]
        return np.sum(parts, axis=0)

    def recommend(self, user: int, k: int = 10, at: int | None = None) -> np.ndarray:
        return top_k(self.score(np.array([user]), at=at), k)[0]
