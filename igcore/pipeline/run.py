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
from igcore.events import Interactions, event_import_ids, load_interactions, newcomers
from igcore.pipeline.checkpoint import load_weights, read_meta, save_checkpoint
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.samples import resolve_samples
from igcore.progress import Progress, no_progress
from igcore.recommend.lists import EXCLUDE, because_of, excluded_items, recent_distinct, top_items
from igcore.recommend.serving import SERVING, ServingState, load_serving, state_key
from igcore.store import Store
from igcore.update.saved import ONLINE, joined_ids, load_online

if TYPE_CHECKING:
    from igcore.cluster import RayCluster
    from igcore.pipeline.grow import Joined
    from igcore.pipeline.model import IgcoreRecommender

def default_checkpoint(store: Store) -> Path:
    """Models live beside their store: data/models/<store name>/ for the default store."""
    return checkpoint_dir(store.path)


def checkpoint_dir(db_path: Path) -> Path:
    """The default checkpoint folder of the store file ``db_path``."""
    return Path(db_path).parent / "models" / Path(db_path).stem


def train(store: Store, config: PipelineConfig, path: Path | None = None, progress: Progress = no_progress,
          cluster: RayCluster | None = None) -> tuple[IgcoreRecommender, Path]:
    """Fit on all events but each user's last, pick the epoch on those last events, then rebuild the online
    state from every event and save a checkpoint. A read-only ``store`` works once the item texts are
    encoded (:func:`igcore.encode.side.missing_text_vectors`); otherwise the store must be writable. With a
    ``cluster``, the network trains data-parallel on Ray (:mod:`igcore.pipeline.ray_train`)."""
    from igcore.encode.item_encoder import attr_vocab
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
    model, shards = IgcoreRecommender(config, side), {}
    if cluster is not None:
        from igcore.pipeline.ray_train import train_on_ray

        progress("train", 0, config.epochs, {"workers": cluster.workers})
        fit = train_on_ray(config, side, data.subset(~last), data.subset(last), cluster)
        model.restore(data, fit.weights)
        model.log, shards = fit.log, {"users_per_worker": fit.users_per_worker}
        model.samples = resolve_samples(config.samples, data.subset(~last), config.max_len, config.prefix_limit)
    else:
        model.fit(data.subset(~last), data.subset(last), progress, final_state=False)
        model.rebuild_state(data)
    imports = event_import_ids(store)
    checkpoint_id = secrets.token_hex(8)
    meta = {"checkpoint_id": checkpoint_id, "user_ids": data.user_ids.tolist(), "item_ids": data.item_ids.tolist(),
            "type_names": list(data.type_names), "import_ids": imports, "events": len(data),
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "log": model.log,
            "attr_tokens": list(attr_vocab(side, data.item_ids)[0]), "samples": model.samples, **shards}
    if model.scored_graph is not None:  # the weight validation chose, and what it measured at each tried
        meta["graph"] = {"weight": model.scored_graph.weight,
                         "valid_ndcg@10": {str(w): v for w, v in model.graph_choice.items()}}
    key = state_key(checkpoint_id, data)
    path = save_checkpoint(path or default_checkpoint(store), model.weights(), config, meta,
                           model.serving_state(key), model.saved_online(key, len(data)))
    return model, path


def load(store: Store, path: Path | None = None, at: dt.datetime | None = None) -> tuple[IgcoreRecommender, dict]:
    """A trained model with its online state at the store's events (up to ``at`` if given): resumed from the
    saved online state where it took in a prefix of them, replayed otherwise. Users and items that came after
    training join it (:mod:`igcore.pipeline.grow`); ``meta``'s id lists name them after the trained ones."""
    path, config, meta, data = _checkpoint_events(store, path, at)
    return _online_model(store, path, config, meta, data).model, meta


def refresh(store: Store, path: Path | None = None) -> tuple[Online, dict]:
    """:func:`load` with every stored event, saving the online and serving states for them, so that the next
    call takes in only the events stored after this one. Where the saved state was resumed, only the users with
    new events are encoded again (:meth:`IgcoreRecommender.serving_state`)."""
    path, config, meta, data = _checkpoint_events(store, path, None)
    online = _online_model(store, path, config, meta, data)
    model, fed = online.model, online.fed
    if "checkpoint_id" not in meta:
        return online, meta
    key = state_key(meta["checkpoint_id"], data)
    since = load_serving(path / SERVING, fed.key) if fed is not None else None
    served = model.serving_state(key, since, fed.events.user if since is not None else None,
                                 fed is not None and fed.refreshed)
    served.save(path / SERVING)
    model.saved_online(key, len(data), online.joined).save(path / ONLINE)
    return dataclasses.replace(online, served=served), meta


def serving_state(store: Store, path: Path | None = None) -> tuple[ServingState, dict, Path]:
    """The checkpoint's serving state at every stored event (refreshed first where events came since), with the
    checkpoint's record and folder: what batch scoring ranks with."""
    path = Path(path or default_checkpoint(store))
    online, meta = refresh(store, path)
    if online.served is None:
        raise IgcoreError(f"the checkpoint at {path} predates serving states: train it again (igcore train)")
    return online.served, meta, path


@dataclasses.dataclass(frozen=True)
class Fed:
    """Events fed to a model resumed from its saved online state: the key that state was saved under, the
    events after it, and whether the item tables were recomputed on the way (every user's scores may move)."""

    key: str
    events: Interactions
    refreshed: bool


@dataclasses.dataclass(frozen=True)
class Online:
    """A model with its online state at the store's events; what was fed to its saved state (None: the log was
    replayed); every user and item that joined it after training, and those that joined just now; after
    :func:`refresh`, the serving state it saved (it scores as the model does, from arrays)."""

    model: IgcoreRecommender
    fed: Fed | None
    joined: Joined
    new: Joined
    served: ServingState | None = None


def _online_model(store: Store, path: Path, config: PipelineConfig, meta: dict[str, Any],
                  data: Interactions) -> Online:
    """The model at ``data``: resumed from ``online.safetensors`` and fed the events after the ones it took in
    when those are a prefix of ``data``, else replayed; with the rows of the items that joined after training
    (those new to the saved state made from ``data``'s co-occurrences and the catalogue)."""
    from igcore.encode.side import side_info_of
    from igcore.pipeline.grow import Joined, grown, item_rows

    weights = load_weights(path)
    saved = load_online(path / ONLINE) if "checkpoint_id" in meta else None
    trained_users, trained_items = meta["trained_users"], meta["trained_items"]
    joined = Joined(saved.users, saved.items, {k[5:]: v for k, v in saved.tensors.items() if k.startswith("rows.")}
                    ) if saved is not None else Joined()
    first = trained_items + len(joined.items)
    item_ids = meta["item_ids"]
    rows = {}
    if len(item_ids) > first:
        tokens = meta.get("attr_tokens")  # the trained attribute vocabulary (a checkpoint before it: None)
        side = side_info_of(store, item_ids[first:], config.text_model, config.use_text,
                            all_attributes=tokens is None)
        rows = item_rows(grown(weights, joined), data, first, item_ids[:trained_items], side, tokens)
    new = Joined(meta["user_ids"][trained_users + len(joined.users):], item_ids[first:], rows)
    joined = joined.then(new)
    weights = grown(weights, joined)
    model = _model(config)
    if saved is not None and saved.events <= len(data):
        head = data.subset(slice(0, saved.events))
        if saved.key == state_key(meta["checkpoint_id"], head):
            kept = model.resume(head, weights, saved)
            rest = data.subset(slice(saved.events, None))
            refreshed = model.update(rest) if len(rest) else False
            return Online(model, Fed(saved.key, rest, refreshed or not kept), joined, new)
    model.restore(data, weights)
    return Online(model, None, joined, new)


def _model(config: PipelineConfig) -> IgcoreRecommender:
    """An empty pipeline to load weights into; a model trained on CUDA serves on CUDA where there is one, on
    the CPU elsewhere (its weights load on either)."""
    from igcore.pipeline.model import IgcoreRecommender

    return IgcoreRecommender(dataclasses.replace(config, device="auto" if config.device == "cuda" else config.device))


def _checkpoint_events(store: Store, path: Path | None, at: dt.datetime | None
                       ) -> tuple[Path, PipelineConfig, dict[str, Any], Interactions]:
    """The checkpoint folder, its config and record, and the store's events (up to ``at``) in its indexes."""
    path = Path(path or default_checkpoint(store))
    config, meta = read_meta(path)
    events = load_interactions(store)
    users, items = joined_ids(path / ONLINE) if "checkpoint_id" in meta else ([], [])
    known_users, known_items = meta["user_ids"] + users, meta["item_ids"] + items
    meta = {**meta, "trained_users": len(meta["user_ids"]), "trained_items": len(meta["item_ids"]),
            "user_ids": known_users + newcomers(known_users, events.user_ids, events.user),
            "item_ids": known_items + newcomers(known_items, events.item_ids, events.item)}
    data = reindexed(events, meta)
    if at is not None:
        data = data.subset(data.ts <= int(at.replace(tzinfo=dt.UTC).timestamp()))
    return path, config, meta, data


def reindexed(data: Interactions, meta: dict[str, Any]) -> Interactions:
    """Events renumbered to the checkpoint's user and item ids (events of ids it lacks are left out)."""
    import pandas as pd

    def codes(ids: list[str], own: np.ndarray, index: np.ndarray) -> np.ndarray:
        return pd.Index(ids).get_indexer(pd.Index(own))[index] if len(own) else np.zeros(0, dtype=np.int64)

    u = codes(meta["user_ids"], data.user_ids, data.user)
    i = codes(meta["item_ids"], data.item_ids, data.item)
    t = np.maximum(codes(meta["type_names"], np.asarray(data.type_names, dtype=object), data.event_type), 0)
    keep = (u >= 0) & (i >= 0)
    return Interactions(u[keep].astype(np.int64), i[keep].astype(np.int64), data.ts[keep],
                        t[keep].astype(np.int16), np.asarray(meta["user_ids"], dtype=object),
                        np.asarray(meta["item_ids"], dtype=object), tuple(meta["type_names"]))


def recommend(store: Store, user_id: str, k: int = 10, at: dt.datetime | None = None,
              path: Path | None = None, explain: bool = False, exclude: str = "bought") -> list[dict[str, Any]]:
    """The user's top ``k`` (now, or as of ``at``), leaving out ``exclude`` (none, bought or seen items); with
    ``explain``, each item's three most similar history items, the user's latest items chosen together with it
    most (the graph at the score), and the decoder's source weights last."""
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
    if scorer is None:  # new events, another time or an older checkpoint: the model's online state
        scorer = _online_model(store, path, config, meta, data).model
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
        links = scorer.graph_links(u, item) if explain else []
        if links:
            row["chosen_with"] = [{"item_id": meta["item_ids"][j], "title": titles.get(meta["item_ids"][j]),
                                   "link": link} for j, link in links]
        out.append(row)
    if explain:
        weights = scorer.source_weights(np.array([u]))[0].tolist()
        names = source_names(config.gnn_stage, config.use_temporal)
        out.append({"sources": dict(zip(names, weights))})
    return out
