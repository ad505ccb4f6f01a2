"""Why an item is recommended: the user's interests and past events that support it, as shares of its score.

Attribution, defined so that the parts always add up to the item's score:

- ``exact`` (the built-in evidence scorer): the score is q . v_j with q = sum_e a_e v(item_e), so event ``e``
  contributes exactly a_e * (v(item_e) . v_j); the contributions of all events sum to the score (up to the
  rounding of the ranked score, see :func:`igcore.interests.scoring.evidence_top_k`), shares are of their sum,
  and an interest's contribution is the sum over its events. Similarities can be negative, so a
  contribution can be too.
- ``similarity-weighted evidence`` (a model, whose score is not linear in the events): event ``e`` gets the
  share a_e * max(0, cos(v(item_e), v_j)) / (sum of those) of the score; when no event is similar at all, the
  shares are the evidence weights a_e. Shares sum to 1, so contributions sum to the score by construction.

``a_e`` = event-type weight * decay(t - ts_e), normalised to sum to 1 over the events whose items have a vector.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from igcore.interests.nodes import InterestNodes
from igcore.interests.vectors import ItemVectors
from igcore.interests.weights import decay
from igcore.numbers import clean

EXACT = "exact"
SIMILARITY = "similarity-weighted evidence"


def evidence_weights(events: pd.DataFrame, vectors: ItemVectors, at: float, half_life_s: float) -> pd.DataFrame:
    """``events`` (item_id, event_type, ts, weight, interest) with ``a`` (normalised decayed evidence) and the
    item's vector row; events whose item has no vector get a = 0."""
    out = events.copy()
    out["row"] = vectors.positions(out["item_id"].to_numpy(dtype=object))
    raw = out["weight"].to_numpy() * decay(at - out["ts"].to_numpy(), half_life_s) * (out["row"] >= 0)
    out["a"] = raw / raw.sum() if raw.sum() > 0 else 0.0
    return out


def explain_item(events: pd.DataFrame, item_id: str, score: float, vectors: ItemVectors, nodes: InterestNodes,
                 method: str = EXACT, top_events: int = 5) -> dict[str, Any]:
    """Contributions of interests and events to ``score`` for ``item_id``; ``events`` from
    :func:`evidence_weights`. Every list's contributions, with ``other_events``, sum to the score."""
    target = vectors.positions(np.array([item_id], dtype=object))[0]
    a = events["a"].to_numpy()
    rows = events["row"].to_numpy()
    sims = np.zeros(len(events))
    if target >= 0:
        ok = rows >= 0
        sims[ok] = vectors.matrix[rows[ok]].astype(np.float64) @ vectors.matrix[target].astype(np.float64)
    if method == EXACT:
        contribution = a * sims
    else:
        support = a * np.clip(sims, 0.0, None)
        share = support / support.sum() if support.sum() > 0 else a / max(a.sum(), 1e-300)
        contribution = score * share
    frame = events.assign(contribution=contribution)
    total = float(contribution.sum()) if method == EXACT else score  # the unrounded score: shares sum to 1
    by_interest = frame.groupby("interest", sort=False)["contribution"].sum().sort_values(ascending=False)
    interests = [{"interest": nodes.interest[c] if c >= 0 else None,
                  "label": nodes.label[c] if c >= 0 else "(no interest)",
                  "contribution": float(v), "share": _share(v, total)}
                 for c, v in by_interest.items() if v != 0]
    ranked = frame.reindex(frame["contribution"].abs().sort_values(ascending=False).index)
    shown = ranked.head(top_events)
    listed = [{"item_id": r.item_id, "event_type": r.event_type, "ts": iso_utc(r.ts),
               "contribution": float(r.contribution), "share": _share(r.contribution, total)}
              for r in shown.itertuples() if r.contribution != 0]
    return {"item_id": item_id, "score": float(score), "method": method, "interests": interests,
            "events": listed, "other_events": float(ranked["contribution"].iloc[top_events:].sum())}


def iso_utc(seconds: float) -> str:
    """ISO-8601 UTC with a Z, to the second."""
    return dt.datetime.fromtimestamp(float(seconds), dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _share(value: float, total: float) -> float | None:
    """``value`` as a share of ``total`` (None for a zero total), with float noise made 0: a contribution that
    is zero but for rounding (a similarity of orthogonal vectors) is no share of the score. Only the share is
    cleaned; the contribution beside it is kept as computed, so that contributions still sum to the score."""
    return clean(value / total) if total else None
