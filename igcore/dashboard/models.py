"""The trained pipeline as the dashboard holds it: loaded once, then kept current by online updates.

Loading resumes the online state saved beside the checkpoint (:mod:`igcore.update.saved`); after that, events
imported later are fed to the model's ``update`` (no gradient steps), so a page shows a new event's effect
without reloading. An import through the after-import service hands over its refreshed model (``adopt``), with
any users and items that joined; events caught up from other processes skip ids the model does not know yet.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from igcore.after_import import AfterImport
from igcore.events import last_event_id, load_interactions
from igcore.interests.scoring import ModelScorer
from igcore.pipeline.checkpoint import WEIGHTS, has_checkpoint
from igcore.pipeline.run import checkpoint_dir, load, reindexed
from igcore.store import Store


@dataclasses.dataclass
class LiveModel:
    """A loaded checkpoint, its metadata and the last stored event its online state has taken in.

    One instance serves every session of the app (threads of one process), so ``catch_up`` holds a lock: two
    sessions catching up at once must not both feed the same new events to the model."""

    scorer: ModelScorer
    meta: dict[str, Any]
    last_event_id: int
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)

    def catch_up(self, store: Store) -> int:
        """Feed the events stored since the last call to the model; returns how many it took in."""
        with self._lock:
            # The bound first: an import committing between the two reads waits for the next call.
            through = last_event_id(store)
            if through <= self.last_event_id:
                return 0
            new = load_interactions(store, self.last_event_id, through)
            self.last_event_id = through
            known = reindexed(new, self.meta)
            if len(known):
                self.scorer.model.update(known)
            return len(known)

    def adopt(self, after: AfterImport) -> None:
        """Take over the model an import refreshed (:mod:`igcore.after_import`), so the pages show the state
        that was saved for serving rather than one caught up by other steps, with the users and items that
        joined it."""
        if after.scorer is None:
            return
        with self._lock:
            if after.last_event_id >= self.last_event_id:
                self.scorer, self.last_event_id = after.scorer, after.last_event_id
                self.meta = {**self.meta, "user_ids": list(after.scorer.user_ids),
                             "item_ids": list(after.scorer.item_ids)}


def catch_up(live: LiveModel, db_path: Path) -> int:
    """:meth:`LiveModel.catch_up` through a read-only connection to the store at ``db_path``."""
    with Store(db_path, read_only=True) as store:
        return live.catch_up(store)


def checkpoint_version(db_path: Path) -> float:
    """The store's checkpoint's modification time, 0 before any training: part of the cache keys of whatever
    depends on the trained model."""
    path = checkpoint_dir(db_path)
    return (path / WEIGHTS).stat().st_mtime if has_checkpoint(path) else 0.0


def has_model(db_path: Path) -> bool:
    return has_checkpoint(checkpoint_dir(db_path))


def load_live_model(db_path: Path) -> LiveModel | None:
    """The store's trained pipeline with its state replayed from every stored event, or None before training."""
    if not has_model(db_path):
        return None
    with Store(db_path, read_only=True) as store:
        model, meta = load(store, checkpoint_dir(db_path))
        last = last_event_id(store)
    return LiveModel(ModelScorer.from_meta(model, meta), meta, last)
