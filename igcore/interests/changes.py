"""Change points in a user's interests: where a new interest takes over part of their attention.

The detector looks at candidate positions ``k`` every ``drift_step`` events of a user (from
``drift_min_history`` on, while at least ``drift_min_after`` events follow) and compares the interest
distribution (event counts) of the ``drift_window_before`` events before ``k`` with that of the
``drift_window_after`` events from ``k``. A change is declared when

- some interest is new: at most ``drift_new_share`` of all the user's events before ``k``, and at least
  ``drift_emerge_share`` of the "after" window; and
- the windows differ: Jensen-Shannon divergence (base 2) of at least ``drift_min_jsd``.

It is placed at the first event of the new interest from ``k`` on; the next candidate is at least a window
later. Counts are not weighted by event type: repeat purchases of an old favourite would otherwise outweigh
a new interest that is still being browsed. Needing events after ``k`` means a change is confirmed with a delay
of up to ``drift_min_after`` events. Measured against planted drift in ``bench/interests_bench.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from igcore.interests.config import InterestConfig
from igcore.interests.events import UserLog


def jsd_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-entry terms of JS(p, q) = 0.5 KL(p || m) + 0.5 KL(q || m), m = (p + q) / 2, base 2; zero where 0."""
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(p > 0, p * np.log2(p / m), 0.0)
        b = np.where(q > 0, q * np.log2(q / m), 0.0)
    return 0.5 * (a + b)


def _window_counts(boundary: np.ndarray, base: np.ndarray, lo: np.ndarray, hi: np.ndarray, code: np.ndarray,
                   width: int) -> pd.DataFrame:
    """Counts of each code over known-event positions [lo, hi) of each boundary (``base`` = user's first row)."""
    size = np.maximum(hi - lo, 0)
    which = np.repeat(np.arange(len(boundary)), size)
    rows = np.repeat(base + lo, size) + np.arange(len(which)) - np.repeat(np.cumsum(size) - size, size)
    uniq, counts = np.unique(boundary[which] * width + code[rows], return_counts=True)
    return pd.DataFrame({"b": uniq // width, "code": uniq % width, "n": counts})


def detect_changes(log: UserLog, code: np.ndarray, config: InterestConfig) -> pd.DataFrame:
    """Change points: user (index), event_index (position among all the user's events), row (log row),
    interest (code), faded (code or -1), jsd."""
    columns = ["user", "event_index", "row", "interest", "faded", "jsd"]
    rows_known = np.flatnonzero(code >= 0)
    if len(rows_known) == 0:
        return pd.DataFrame(columns=columns)
    user, kcode = log.user[rows_known], code[rows_known]
    length = np.bincount(user, minlength=log.n_users)
    base = np.cumsum(length) - length
    kpos = np.arange(len(user)) - base[user]
    step, history, after = config.drift_step, config.drift_min_history, config.drift_window_after
    first_k = -(-history // step) * step
    n_bounds = np.where(length - config.drift_min_after >= first_k,
                        (length - config.drift_min_after - first_k) // step + 1, 0)
    b_user = np.repeat(np.arange(log.n_users), n_bounds)
    b_k = first_k + step * (np.arange(len(b_user)) - np.repeat(np.cumsum(n_bounds) - n_bounds, n_bounds))
    if len(b_user) == 0:
        return pd.DataFrame(columns=columns)
    b_end = np.minimum(length[b_user], b_k + after)
    b_start = np.maximum(0, b_k - config.drift_window_before)
    width = int(kcode.max()) + 1
    boundary = np.arange(len(b_user))
    aft = _window_counts(boundary, base[b_user], b_k, b_end, kcode, width)
    bef = _window_counts(boundary, base[b_user], b_start, b_k, kcode, width)
    both = aft.merge(bef, on=["b", "code"], how="outer", suffixes=("_aft", "_bef")).fillna(0)
    b = both["b"].to_numpy(np.int64)
    q = both["n_aft"].to_numpy() / (b_end - b_k)[b]
    p = both["n_bef"].to_numpy() / (b_k - b_start)[b]
    jsd = np.bincount(b, weights=jsd_terms(p, q), minlength=len(boundary))
    both["drop"] = p - q
    faded = both.sort_values(["b", "drop"], ascending=[True, False]).drop_duplicates("b")
    faded_code = np.full(len(boundary), -1)
    keep = faded["drop"].to_numpy() > 0
    faded_code[faded["b"].to_numpy(np.int64)[keep]] = faded["code"].to_numpy(np.int64)[keep]
    # Whole-history counts before k, and first occurrence from k, by binary search in (user, code, position).
    m = int(length.max()) + 1
    key = np.sort((user * width + kcode) * m + kpos)
    cand = both[(q >= config.drift_emerge_share) & (jsd[b] >= config.drift_min_jsd)]
    cb, cc = cand["b"].to_numpy(np.int64), cand["code"].to_numpy(np.int64)
    stem = (b_user[cb] * width + cc) * m
    at_k = np.searchsorted(key, stem + b_k[cb])
    before = at_k - np.searchsorted(key, stem)
    new = before <= config.drift_new_share * b_k[cb]
    found = pd.DataFrame({"b": cb[new], "code": cc[new], "first": key[at_k[new]] % m})
    found = found.sort_values(["b", "first", "code"]).drop_duplicates("b")
    out, next_ok, pos = [], {}, log.pos  # pos once: it is computed over the whole log
    for bnd, c, first in found.itertuples(index=False):
        u = int(b_user[bnd])
        if b_k[bnd] < next_ok.get(u, -1):
            continue
        next_ok[u] = first + after
        row = int(rows_known[base[u] + first])
        out.append((u, int(pos[row]), row, int(c), int(faded_code[bnd]), float(jsd[bnd])))
    return pd.DataFrame(out, columns=columns)


def evaluate_detections(detected: pd.DataFrame, truth: pd.DataFrame, tolerance: int = 20) -> dict[str, float]:
    """Precision, recall and F1 of detected (user_id, event_index) against planted (user_id, event_index):
    a detection matches an unmatched planted change of the same user within ``tolerance`` events (closest
    first); every other detection is a false positive, every unmatched planted change a miss."""
    truth_by_user: dict[str, list[int]] = {}
    for u, i in zip(truth["user_id"].astype(str), truth["event_index"].astype(int)):
        truth_by_user.setdefault(u, []).append(i)
    tp, lags = 0, []
    for u, group in detected.groupby(detected["user_id"].astype(str)):
        pairs = sorted((abs(d - t), d, t) for d in group["event_index"].astype(int) for t in truth_by_user.get(u, []))
        used_d, used_t = set(), set()
        for gap, d, t in pairs:
            if gap <= tolerance and d not in used_d and t not in used_t:
                used_d.add(d), used_t.add(t)
                lags.append(d - t)
        tp += len(used_t)
    fp, fn = len(detected) - tp, len(truth) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
            "median_abs_lag": float(np.median(np.abs(lags))) if lags else float("nan"),
            "median_lag": float(np.median(lags)) if lags else float("nan")}
