"""Orchestration from one config: encode -> embed -> update -> decode -> recommend, reporting progress.

Used by the CLI (``igcore train``, ``update``, ``recommend``) and, later, the dashboard. Production training
selects its epoch on each user's last event, then rebuilds the online state from every event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from igcore.errors import IgcoreError
from igcore.evaluate.data import Interactions, load_interactions
from igcore.interests.clusters import unit_rows
from igcore.pipeline.checkpoint import load_checkpoint, save_checkpoint
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.model import IgcoreRecommender
from igcore.pipeline.side import load_side_info
from igcore.progress import Progress, no_progress
from igcore.store import Store


def default_checkpoint(store: Store) -> Path:
    """Models live beside their store: data/models/<store name>/ for the default store."""
    return checkpoint_dir(store.path)


def checkpoint_dir(db_path: Path) -> Path:
    """The default checkpoint folder of the store file ``db_path``."""
    return Path(db_path).parent / "models" / Path(db_path).stem


def train(store: Store, config: PipelineConfig, path: Path | None = None,
          progress: Progress = no_progress) -> tuple[IgcoreRecommender, Path]:
    """Fit on all events but each user's last, pick the epoch on those last events, then rebuild the online
    state from every event and save a checkpoint. A read-only ``store`` works once the item texts are
    encoded (:func:`igcore.pipeline.side.missing_text_vectors`); otherwise the store must be writable."""
    data = load_interactions(store)
    if len(data) == 0:
        raise IgcoreError("the store holds no events: import some first (igcore ingest / igcore sample)")
    progress("encode", 0, 1, {})
    side = load_side_info(store, config.device, config.text_model, config.use_text, progress)
    progress("encode", 1, 1, {})
    pos, counts = data.positions_in_user(), np.bincount(data.user, minlength=data.n_users)
    last = pos == counts[data.user] - 1
    model = IgcoreRecommender(config, side)
    model.fit(data.subset(~last), data.subset(last), progress, final_state=False)
    model.rebuild_state(data)
    imports = [int(r[0]) for r in store.rows("SELECT DISTINCT import_id FROM events ORDER BY 1")]
    meta = {"user_ids": data.user_ids.tolist(), "item_ids": data.item_ids.tolist(),
            "type_names": list(data.type_names), "import_ids": imports, "events": len(data),
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "log": model.log}
    path = save_checkpoint(path or default_checkpoint(store), model.weights(), config, meta)
    return model, path


def load(store: Store, path: Path | None = None, at: dt.datetime | None = None) -> tuple[IgcoreRecommender, dict]:
    """A trained model with its online state rebuilt from the store's events (up to ``at`` if given).
    Users and items unknown to the checkpoint are left out (retrain to include them)."""
    config, meta, weights = load_checkpoint(path or default_checkpoint(store))
    data = load_interactions(store)
    data = reindexed(data, meta)
    if at is not None:
        data = data.subset(data.ts <= int(at.replace(tzinfo=dt.UTC).timestamp()))
    model = IgcoreRecommender(dataclasses.replace(config, device="cpu" if config.device == "cuda" else config.device))
    model.restore(data, weights)
    return model, meta


def reindexed(data: Interactions, meta: dict[str, Any]) -> Interactions:
    """Events renumbered to the checkpoint's user and item ids."""
    users = {u: i for i, u in enumerate(meta["user_ids"])}
    items = {u: i for i, u in enumerate(meta["item_ids"])}
    types = {t: i for i, t in enumerate(meta["type_names"])}
    u = np.array([users.get(x, -1) for x in data.user_ids[data.user]])
    i = np.array([items.get(x, -1) for x in data.item_ids[data.item]])
    t = np.array([types.get(x, 0) for x in np.asarray(data.type_names, dtype=object)[data.event_type]])
    keep = (u >= 0) & (i >= 0)
    return Interactions(u[keep], i[keep], data.ts[keep], t[keep].astype(np.int16),
                        np.asarray(meta["user_ids"], dtype=object), np.asarray(meta["item_ids"], dtype=object),
                        tuple(meta["type_names"]))


def recommend(store: Store, user_id: str, k: int = 10, at: dt.datetime | None = None,
              path: Path | None = None, explain: bool = False) -> list[dict[str, Any]]:
    model, meta = load(store, path, at)
    users = {u: i for i, u in enumerate(meta["user_ids"])}
    if user_id not in users:
        raise IgcoreError(f"user {user_id!r} is not known to the model (trained on {len(users):,} users)")
    u = users[user_id]
    top = model.recommend(u, k)
    scores = model.score(np.array([u]))[0]
    titles = dict(store.rows("SELECT item_id, title FROM items"))
    out = []
    # Reasons by cosine of item vectors: by raw dot product the history item with the longest vector would be
    # every recommendation's first reason.
    vectors = unit_rows(model.item_vectors()) if explain else None
    history = list(dict.fromkeys(reversed(model.items[u])))[:20]  # distinct items, latest first
    for rank, item in enumerate(top.tolist(), 1):
        item_id = meta["item_ids"][item]
        row: dict[str, Any] = {"rank": rank, "item_id": item_id, "title": titles.get(item_id), "score":
                               float(scores[item])}
        if explain and history:
            sims = vectors[history] @ vectors[item]
            best = np.argsort(-sims)[:3]
            row["because_of"] = [{"item_id": meta["item_ids"][history[j]], "title": titles.get(
                meta["item_ids"][history[j]]), "similarity": float(sims[j])} for j in best]
        out.append(row)
    if explain:
        weights = model.source_weights(np.array([u]))[0].tolist()
        names = ["sequence"] + (["graph"] if model.cfg.use_graph else []) + \
            (["memory"] if model.cfg.use_temporal else [])
        out.append({"sources": dict(zip(names, weights))})
    return out
