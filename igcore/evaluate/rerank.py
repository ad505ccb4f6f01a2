"""Re-ranking on top of any model's scores: a popularity penalty that trades some accuracy for exposure.

The penalty subtracts, from each score, ``λ · r_u · log(1 + p_i) / log(1 + max p)``: ``p_i`` is item i's training
interaction count, ``r_u`` the range of user u's finite scores (highest minus lowest; 1 when they are all equal).
This is the common linear mix of min-max normalised relevance with a popularity term, kept in the model's own
units so that λ = 0 leaves the scores untouched. Scaling by the user's own range makes λ unitless, so one λ means
the same on a model scoring probabilities, one scoring summed similarities and one scoring logits: at λ = 1 the
catalogue's most popular item loses the user's whole score range, an item never seen in training loses nothing.
Among items a model scores equally, any λ > 0 puts the less popular first; a large λ orders by ascending
popularity.

The harness applies it before excluding seen items and before ranking (``--rerank pop=λ`` of
``igcore bench quality``); its rows are named ``MODEL[rerank_pop=λ]`` beside the model's own row.
"""

from __future__ import annotations

import math

import numpy as np

from igcore.errors import IgcoreError

RERANKS = ("pop",)  # kinds of re-ranking ``--rerank KIND=λ`` accepts


def popularity_penalty(scores: np.ndarray, popularity: np.ndarray, strength: float) -> np.ndarray:
    """``scores`` (users × items) with the popularity penalty of strength λ = ``strength`` (module docstring);
    ``scores`` itself when λ is 0."""
    if strength == 0:
        return scores
    scores = np.asarray(scores, dtype=np.float64)
    weight = np.log1p(np.asarray(popularity, dtype=np.float64))
    top = weight.max() if len(weight) else 0.0
    if top <= 0:  # no item was seen in training: nothing to penalise
        return scores
    finite = np.isfinite(scores)
    high = np.where(finite, scores, -np.inf).max(axis=1, keepdims=True)
    low = np.where(finite, scores, np.inf).min(axis=1, keepdims=True)
    spread = np.where(high > low, high - low, 1.0)  # all equal, or nothing finite: the penalty in score units
    return scores - strength * spread * (weight / top)[None, :]


def parse_rerank(text: str) -> float:
    """``pop=0.5`` -> 0.5: the strength of the popularity penalty; an :class:`IgcoreError` naming the valid
    kinds for another kind, and for a strength that is not a finite number of 0 or more."""
    kind, sep, value = text.partition("=")
    if not sep or kind.strip() not in RERANKS:
        raise IgcoreError(f"--rerank {text!r}: KIND=STRENGTH with KIND one of {', '.join(RERANKS)}, e.g. pop=0.5")
    try:
        strength = float(value)
    except ValueError:
        strength = math.nan
    if not (math.isfinite(strength) and strength >= 0):
        raise IgcoreError(f"--rerank {text!r}: the strength is a number, 0 or more")
    return strength
