"""The rows of interest snapshots for a set of points: weights, drift from the previous point, edges, top-K.

Pure: a log, its points, the nodes and item vectors in; frames keyed by point index out (the store layer turns
them into ids). Points must be sorted by (user, no); a point's "previous" is the point before it of the same
user in the same batch, so an incremental update passes the last kept snapshot along as a reference.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from igcore.interests.changes import jsd_terms
from igcore.interests.config import InterestConfig
from igcore.interests.events import UserLog
from igcore.interests.nodes import InterestNodes
from igcore.interests.scoring import POINT_CHUNK, ModelScorer, evidence_top_k, predicted_shares, top_k
from igcore.interests.vectors import ItemVectors
from igcore.interests.weights import Points, cooccurrences, decayed_sums, transitions


@dataclasses.dataclass
class SnapshotRows:
    snapshots: pd.DataFrame  # point, top_interest, jsd, emerging, fading (interest codes)
    weights: pd.DataFrame  # point, interest, kind, weight, share, events, predicted
    edges: pd.DataFrame  # point, src, dst, kind, weight
    recs: pd.DataFrame  # point, scorer, rank, item_id, score, prev_rank
    items: pd.DataFrame  # point, item_id, weight, events: each point's own items (decayed evidence)


def interest_weights(log: UserLog, points: Points, nodes: InterestNodes, config: InterestConfig) -> pd.DataFrame:
    """Observed weights of every kind: decayed, type-weighted evidence, its share within the kind, counts."""
    frames = []
    for kind in nodes.kinds:
        code = nodes.codes(log.item_ids, kind)
        rows = np.flatnonzero(code >= 0)
        pt, key, value, count = decayed_sums(points, log, rows, code[rows], log.weight[rows], config.half_life_s)
        frames.append(pd.DataFrame({"point": pt, "interest": key, "kind": kind, "weight": value, "events": count}))
    out = pd.concat(frames, ignore_index=True)
    total = out.groupby(["point", "kind"])["weight"].transform("sum")
    out["share"] = out["weight"] / total.where(total > 0, 1.0)
    out["predicted"] = np.nan
    return out


def predicted_rows(point_ids: np.ndarray, scores: np.ndarray, codes: dict[str, np.ndarray],
                   n_interests: int) -> pd.DataFrame:
    """(point, interest, kind, p): the model's predicted share ``p > 0`` of each interest for the scored points,
    one score row per point (``codes``: each kind's interest code per model item)."""
    frames = []
    for kind, item_codes in codes.items():
        pred = predicted_shares(scores, item_codes, n_interests)
        rows, cols = np.nonzero(pred > 0)
        frames.append(pd.DataFrame({"point": point_ids[rows], "interest": cols, "kind": kind,
                                    "p": pred[rows, cols]}))
    return pd.concat(frames, ignore_index=True)


def with_predictions(weights: pd.DataFrame, pred: pd.DataFrame, config: InterestConfig) -> pd.DataFrame:
    """Predicted shares (:func:`predicted_rows`) beside the observed ones; interests that are only predicted
    join with weight 0 when their predicted share is at least ``min_predicted_share``."""
    if pred.empty:
        return weights
    out = weights.merge(pred, on=["point", "interest", "kind"], how="outer")
    out["predicted"] = out["p"].where(out["p"].notna(), out["predicted"])
    observed = out["weight"].notna()
    out = out[observed | (out["predicted"] >= config.min_predicted_share)].drop(columns="p")
    out[["weight", "share", "events"]] = out[["weight", "share", "events"]].fillna(0)
    return out.astype({"events": np.int64}).sort_values(["point", "interest"], ignore_index=True)


def snapshot_drift(points: Points, weights: pd.DataFrame, nodes: InterestNodes,
                   config: InterestConfig) -> pd.DataFrame:
    """Per point: the primary kind's top interest, JSD from the previous point's shares, and the interests
    whose share rose (emerging) or fell (fading) by at least ``emerge_delta``."""
    n = len(points)
    has_prev = np.zeros(n, dtype=bool)
    has_prev[1:] = points.user[1:] == points.user[:-1]
    cur = weights[(weights["kind"] == nodes.primary) & (weights["weight"] > 0)][["point", "interest", "share"]]
    top = cur.sort_values(["point", "share", "interest"], ascending=[True, False, True]).drop_duplicates("point")
    prev = cur[np.append(has_prev[1:], False)[cur["point"].to_numpy()]].assign(point=lambda f: f["point"] + 1)
    both = cur.merge(prev, on=["point", "interest"], how="outer", suffixes=("", "_prev")).fillna(0.0)
    both = both[has_prev[both["point"].to_numpy(np.int64)]]
    pt = both["point"].to_numpy(np.int64)
    jsd = np.bincount(pt, weights=jsd_terms(both["share_prev"].to_numpy(), both["share"].to_numpy()), minlength=n)
    rise = both["share"] - both["share_prev"]
    out = pd.DataFrame({"point": np.arange(n), "top_interest": -1, "jsd": np.where(has_prev, jsd, np.nan)})
    out.loc[top["point"].to_numpy(), "top_interest"] = top["interest"].to_numpy()
    for name, mask in (("emerging", rise >= config.emerge_delta), ("fading", -rise >= config.emerge_delta)):
        lists = both[mask.to_numpy()].sort_values(["point", "interest"]).groupby("point")["interest"].agg(list)
        found = lists.to_dict()  # a dict lookup per point, not a Series one
        out[name] = [found.get(p, []) for p in range(n)]
    return out


def interest_edges(log: UserLog, points: Points, nodes: InterestNodes, config: InterestConfig) -> pd.DataFrame:
    """Decayed counts of transitions (directed) and same-session co-occurrences (src < dst) between the
    primary kind's interests."""
    code = nodes.codes(log.item_ids)
    width = max(len(nodes), 1)
    frames = []
    for kind, (rows, src, dst) in (("transition", transitions(log, code)),
                                   ("cooccurrence", cooccurrences(log, code, config.session_gap_minutes * 60))):
        pt, key, value, _ = decayed_sums(points, log, rows, src * width + dst, np.ones(len(rows)),
                                         config.half_life_s)
        frames.append(pd.DataFrame({"point": pt, "src": key // width, "dst": key % width, "kind": kind,
                                    "weight": value}))
    return pd.concat(frames, ignore_index=True)


def own_items(log: UserLog, points: Points, config: InterestConfig) -> pd.DataFrame:
    """Each point's items with their decayed evidence (the same formula as interests, keyed by item)."""
    item_codes, item_ids = pd.factorize(pd.Series(log.item_ids, dtype=object))
    rows = np.arange(len(log))
    pt, key, value, count = decayed_sums(points, log, rows, item_codes, log.weight, config.half_life_s)
    return pd.DataFrame({"point": pt, "item_id": np.asarray(item_ids, dtype=object)[key], "weight": value,
                         "events": count})


def evidence_recs(items: pd.DataFrame, n_points: int, vectors: ItemVectors, config: InterestConfig) -> pd.DataFrame:
    rows = vectors.positions(items["item_id"].to_numpy(dtype=object))
    ok = rows >= 0
    cols, vals = evidence_top_k(items["point"].to_numpy(np.int64)[ok], rows[ok], items["weight"].to_numpy()[ok],
                                n_points, vectors, config.top_k, config.exclude_seen)
    return _rec_frame(np.arange(n_points), cols, vals, vectors.item_ids, "evidence")


def model_recs(point_ids: np.ndarray, scores: np.ndarray, items: pd.DataFrame, model: ModelScorer,
               config: InterestConfig) -> pd.DataFrame:
    scores = scores.copy()
    if config.exclude_seen:
        seen = items[items["point"].isin(point_ids)]
        row = pd.Index(point_ids).get_indexer(seen["point"].to_numpy())
        col = model.item_index.get_indexer(seen["item_id"].to_numpy(dtype=object))
        ok = col >= 0
        scores[row[ok], col[ok]] = -np.inf
    cols, vals = top_k(scores, config.top_k)
    return _rec_frame(point_ids, cols, vals, model.item_ids, model.name)


def _rec_frame(point_ids: np.ndarray, cols: np.ndarray, vals: np.ndarray, item_ids: np.ndarray,
               scorer: str) -> pd.DataFrame:
    rank = np.tile(np.arange(1, cols.shape[1] + 1), len(point_ids))
    frame = pd.DataFrame({"point": np.repeat(point_ids, cols.shape[1]), "scorer": scorer, "rank": rank,
                          "col": cols.ravel(), "score": vals.ravel()})
    frame = frame[frame["col"] >= 0]
    frame.insert(3, "item_id", np.asarray(item_ids, dtype=object)[frame["col"].to_numpy()])
    return frame.drop(columns="col").reset_index(drop=True)


def with_prev_rank(recs: pd.DataFrame, points: Points, prior: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rank of each item in the same scorer's previous list for the user (NaN: new in the list). ``prior``
    (user, scorer, item_id, rank) holds the list before each user's first list in this batch."""
    lists = recs[["scorer", "point"]].drop_duplicates().sort_values(["scorer", "point"])
    lists["user"] = points.user[lists["point"].to_numpy()]
    same = (lists["scorer"] == lists["scorer"].shift()) & (lists["user"] == lists["user"].shift())
    lists["prev_point"] = lists["point"].shift().where(same, -1).astype(np.int64)
    out = recs.merge(lists[["scorer", "point", "prev_point", "user"]], on=["scorer", "point"])
    before = recs.rename(columns={"point": "prev_point", "rank": "prev_rank"})[["scorer", "prev_point", "item_id",
                                                                               "prev_rank"]]
    out = out.merge(before, on=["scorer", "prev_point", "item_id"], how="left")
    if prior is not None and len(prior):
        first = out["prev_point"] < 0
        filled = out[first].merge(prior.rename(columns={"rank": "prior_rank"}), on=["user", "scorer", "item_id"],
                                  how="left")["prior_rank"].to_numpy()
        out.loc[first, "prev_rank"] = filled
    return out.drop(columns=["prev_point", "user"]).sort_values(["point", "scorer", "rank"], ignore_index=True)


def compute_rows(log: UserLog, points: Points, nodes: InterestNodes, vectors: ItemVectors, config: InterestConfig,
                 model: ModelScorer | None = None, model_points: np.ndarray | None = None,
                 prior_recs: pd.DataFrame | None = None) -> SnapshotRows:
    """Everything stored for ``points``; the model (if any) scores the points in ``model_points`` (indexes)."""
    weights = interest_weights(log, points, nodes, config)
    items = own_items(log, points, config)
    recs = [evidence_recs(items, len(points), vectors, config)]
    if model is not None and model_points is not None and len(model_points):
        codes = {kind: nodes.codes(model.item_ids, kind) for kind in nodes.kinds}
        predicted = []
        for lo in range(0, len(model_points), POINT_CHUNK):  # a score row per catalogue item: a chunk at a time
            part = np.asarray(model_points[lo:lo + POINT_CHUNK])
            known, scores = model.scores(log.user_ids[points.user[part]].tolist())
            predicted.append(predicted_rows(part[known], scores, codes, len(nodes)))
            recs.append(model_recs(part[known], scores, items, model, config))
        weights = with_predictions(weights, pd.concat(predicted, ignore_index=True), config)
    recs_frame = with_prev_rank(pd.concat(recs, ignore_index=True), points, prior_recs)
    return SnapshotRows(snapshot_drift(points, weights, nodes, config), weights,
                        interest_edges(log, points, nodes, config), recs_frame, items)
