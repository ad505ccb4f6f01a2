"""What the Home page says beyond the store's counts: which model is trained (on what data, when) and how
current the interest snapshots are. Plain functions over a store path: no Streamlit in here.

The model is described from its checkpoint's ``model.json`` alone (no weights loaded), so Home stays fast;
"imports since" counts the event imports the checkpoint does not list, i.e. data the model was not trained on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from igcore.interests.schema import has_tables, read_state
from igcore.pipeline.checkpoint import META, WEIGHTS
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.run import checkpoint_dir
from igcore.store import Store


@dataclasses.dataclass(frozen=True)
class ModelStatus:
    """The store's trained model as its checkpoint describes it."""

    name: str  # benchmark row name, e.g. igcore or igcore-no-text
    graph: str  # how its graph acts (graph_text)
    dim: int
    trained_at: dt.datetime | None  # UTC
    events: int  # events it was trained on
    import_ids: tuple[int, ...]  # the imports those events came from
    imports_since: int  # event imports (with loaded rows) the model was not trained on
    events_since: int  # their events

    def summary(self) -> str:
        """One line, e.g. 'Model: igcore (graph at the score, weight 0.1, dim 64), trained 2026-11-30 12:01 UTC on
        150,000 events (imports 1, 2); 3 imports since'."""
        when = f"trained {_utc(self.trained_at)}" if self.trained_at else "trained (time unknown)"
        imports = ", ".join(str(i) for i in self.import_ids)
        label = "import" if len(self.import_ids) == 1 else "imports"
        line = (f"Model: {self.name} ({self.graph}, dim {self.dim}), {when} on {self.events:,} events "
                f"({label} {imports})")
        if self.imports_since:
            plural = "import" if self.imports_since == 1 else "imports"
            line += (f"; {self.imports_since:,} {plural} since ({self.events_since:,} events the model was not "
                     "trained on: retrain on the Pipeline page to include them)")
        else:
            line += "; no imports since"
        return line


@dataclasses.dataclass(frozen=True)
class SnapshotStatus:
    """How many interest snapshots the store holds and when they were built and last updated."""

    snapshots: int
    users: int
    built_at: dt.datetime | None
    updated_at: dt.datetime | None

    def summary(self) -> str:
        if self.built_at is None:
            return "No interest snapshots yet: they are built after the next import of events."
        line = f"{self.snapshots:,} interest snapshots of {self.users:,} users"
        if self.built_at:
            line += f", built {_utc(self.built_at)}"
        if self.updated_at and self.updated_at != self.built_at:
            line += f", updated {_utc(self.updated_at)}"
        return line


def graph_text(config: dict[str, Any], chosen: dict[str, Any] | None) -> str:
    """How a checkpoint's graph acts, in a few words (from its ``model.json``'s config and chosen graph weight):
    ``graph at the score, weight 0.1``, ``GNN gin on users``, ``no graph``."""
    if not config.get("use_graph", True):
        return "no graph"
    if config.get("graph_on", "users") == "score":
        return f"graph at the score, weight {chosen['weight']:g}" if chosen else "graph at the score"
    return f"GNN {config.get('gnn')} on {config.get('graph_on', 'users')}"


def checkpoint_stamp(db_path: Path) -> float:
    """Changes whenever the store's checkpoint does (0.0 without one): part of a cache key."""
    meta = checkpoint_dir(db_path) / META
    return meta.stat().st_mtime if meta.exists() else 0.0


def model_status(db_path: Path) -> ModelStatus | None:
    """The trained model of the store at ``db_path`` from its checkpoint's model.json, or None before training."""
    folder = checkpoint_dir(db_path)
    if not (folder / META).exists() or not (folder / WEIGHTS).exists():
        return None
    meta = json.loads((folder / META).read_text())
    known = {f.name for f in dataclasses.fields(PipelineConfig)}
    config = PipelineConfig(**{k: v for k, v in meta.get("config", {}).items() if k in known})
    import_ids = tuple(int(i) for i in meta.get("import_ids", []))
    with Store(db_path, read_only=True) as store:
        since = store.rows(
            """SELECT count(*), coalesce(sum(rows_loaded), 0) FROM imports
               WHERE kind = 'events' AND rows_loaded > 0 AND NOT list_contains(?::BIGINT[], import_id)""",
            [list(import_ids)],
        )[0]
    return ModelStatus(config.name(), graph_text(meta.get("config", {}), meta.get("graph")), config.dim,
                       _parse(meta.get("trained_at")),
                       int(meta.get("events", 0)), import_ids, int(since[0]), int(since[1]))


def snapshot_status(db_path: Path) -> SnapshotStatus:
    """Count of stored interest snapshots and users, with the build and last update times."""
    with Store(db_path, read_only=True) as store:
        if not has_tables(store):
            return SnapshotStatus(0, 0, None, None)
        state = read_state(store)
        count, users = store.rows("SELECT count(*), count(DISTINCT user_id) FROM interest_snapshots")[0]
    return SnapshotStatus(int(count), int(users), _parse(state.get("built_at")), _parse(state.get("updated_at")))


def _parse(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp.astimezone(dt.UTC) if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _utc(stamp: dt.datetime) -> str:
    return f"{stamp:%Y-%m-%d %H:%M} UTC"
