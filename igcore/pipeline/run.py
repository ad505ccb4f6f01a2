"""Orchestration from one config: encode -> embed -> update -> decode -> recommend, reporting progress.

Used by the CLI (``igcore train``, ``update``, ``recommend``) and the dashboard. Production training selects
its epoch on each user's last event, then rebuilds the online state from every event. torch and
torch_geometric are imported only where a network runs: ``recommend`` on a store whose events have not changed
since the model last saw them scores from the saved serving state (:mod:`igcore.recommend.serving`) instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from igcore.decode.sources import source_names
from igcore.errors import IgcoreError
from igcore.events import Interactions, event_import_ids, load_interactions
from igcore.pipeline.checkpoint import load_weights, read_meta, save_checkpoint
from igcore.pipeline.config import PipelineConfig
from igcore.progress import Progress, no_progress
from igcore.recommend.lists import EXCLUDE, because_of, excluded_items, recent_distinct, top_items
from igcore.recommend.serving import SERVING, load_serving, state_key
from igcore.store import Store

if TYPE_CHECKING:
    from igcore.pipeline.model import IgcoreRecommender

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
    encoded (:func:`igcore.encode.side.missing_text_vectors`); otherwise the store must be writable."""
    from igcore.encode.side import load_side_info
    from igcore.pipeline.model import IgcoreRecommender

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
    imports = event_import_ids(store)
    checkpoint_id = secrets.token_hex(8)
    meta = {"checkpoint_id": checkpoint_id, "user_ids": data.user_ids.tolist(), "item_ids": data.item_ids.tolist(),
            "type_names": list(data.type_names), "import_ids": imports, "events": len(data),
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "log": model.log}
    path = save_checkpoint(path or default_checkpoint(store), model.weights(), config, meta,
                           model.serving_state(state_key(checkpoint_id, data)))
    return model, path


def load(store: Store, path: Path | None = None, at: dt.datetime | None = None) -> tuple[IgcoreRecommender, dict]:
    """A trained model with its online state rebuilt from the store's events (up to ``at`` if given).
    Users and items unknown to the checkpoint are left out (retrain to include them)."""
    path, config, meta, data = _checkpoint_events(store, path, at)
    return _restored(path, config, data), meta


def refresh(store: Store, path: Path | None = None) -> tuple[IgcoreRecommender, dict]:
    """:func:`load` with every stored event, saving the serving state for them: after new events, the next
    ``recommend`` scores without replaying them again."""
    path, config, meta, data = _checkpoint_events(store, path, None)
    model = _restored(path, config, data)
    if "checkpoint_id" in meta:
        model.serving_state(state_key(meta["checkpoint_id"], data)).save(path / SERVING)
    return model, meta


def _checkpoint_events(store: Store, path: Path | None, at: dt.datetime | None
                       ) -> tuple[Path, PipelineConfig, dict[str, Any], Interactions]:
    """The checkpoint folder, its config and record, and the store's events (up to ``at``) in its indexes."""
    path = Path(path or default_checkpoint(store))
    config, meta = read_meta(path)
    data = reindexed(load_interactions(store), meta)
    if at is not None:
        data = data.subset(data.ts <= int(at.replace(tzinfo=dt.UTC).timestamp()))
    return path, config, meta, data


def _restored(path: Path, config: PipelineConfig, data: Interactions) -> IgcoreRecommender:
    from igcore.pipeline.model import IgcoreRecommender

    model = IgcoreRecommender(dataclasses.replace(config, device="cpu" if config.device == "cuda" else config.device))
    model.restore(data, load_weights(path))
    return model


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
              path: Path | None = None, explain: bool = False, exclude: str = "bought") -> list[dict[str, Any]]:
    """The user's top ``k`` (now, or as of ``at``), leaving out ``exclude`` (none, bought or seen items); with
    ``explain``, each item's three most similar history items and the decoder's source weights last."""
    if exclude not in EXCLUDE:
        raise IgcoreError(f"exclude must be one of {', '.join(EXCLUDE)}, not {exclude!r}")
    path, config, meta, data = _checkpoint_events(store, path, at)
    users = {u: i for i, u in enumerate(meta["user_ids"])}
    if user_id not in users:
        raise IgcoreError(f"user {user_id!r} is not known to the model (trained on {len(users):,} users)")
    u = users[user_id]
    scorer = None
    if at is None and "checkpoint_id" in meta:
        scorer = load_serving(path / SERVING, state_key(meta["checkpoint_id"], data))
    if scorer is None:  # new events, another time or an older checkpoint: replay the log through the model
        scorer = _restored(path, config, data)
    mine = data.user == u
    seen, types = data.item[mine], data.event_type[mine]
    scores = scorer.score(np.array([u]))[0]
    top = top_items(scores, excluded_items(seen, types, data.type_names, exclude), k)
    titles = dict(store.rows("SELECT item_id, title FROM items"))
    reasons = because_of(scorer.item_vectors(), recent_distinct(seen), top) if explain else [[] for _ in top]
    out: list[dict[str, Any]] = []
    for rank, (item, why) in enumerate(zip(top, reasons, strict=True), 1):
        item_id = meta["item_ids"][item]
        row: dict[str, Any] = {"rank": rank, "item_id": item_id, "title": titles.get(item_id), "score":
                               float(scores[item])}
        if why:
            row["because_of"] = [{"item_id": meta["item_ids"][j], "title": titles.get(meta["item_ids"][j]),
                                  "similarity": sim} for j, sim in why]
        out.append(row)
    if explain:
        weights = scorer.source_weights(np.array([u]))[0].tolist()
        names = source_names(config.use_graph, config.use_temporal)
        out.append({"sources": dict(zip(names, weights))})
    return out
