"""Top-K lists for every user in one run (batch scoring), written as a folder of Parquet files: on this process,
or on Ray Data over the event log's Parquet partitions (``igcore score --out DIR [--workers N]``).

Every list comes from the trained model's serving state, refreshed first so that it holds every stored event,
and leaves out what ``igcore recommend`` leaves out (the user's purchases, history or nothing): the same scores,
the same exclusions, the same order. What differs is only where the work runs:

- one process: the events are read from the store (or its ``--events`` export) and scored user by user;
- Ray Data: the events of a Parquet export (``igcore export``, ``--events DIR``) become a Ray dataset whose day
  partitions the workers read themselves, grouped by user; each user's events are scored by one of up to N actors
  that hold the serving state, and the actors' Parquet files are the output.

The output folder holds ``part-*.parquet`` files of (user_id, rank, item_id, score) rows and a ``_igcore_lists.json``
record (model, k, exclusion, counts). It is written beside its place and moved in whole, so a reader sees the
old lists or the new ones. It holds user ids: after ``igcore forget``, score again.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from igcore.cluster import RayCluster, connected
from igcore.errors import IgcoreError
from igcore.recommend.lists import EXCLUDE, excluded_items, top_items
from igcore.recommend.serving import ServingState

if TYPE_CHECKING:
    from igcore.store import Store

LISTS_RECORD = "_igcore_lists.json"
EVENT_COLUMNS = ["user_id", "item_id", "event_type"]
LIST_COLUMNS = ["user_id", "rank", "item_id", "score"]
CHUNK_USERS = 1024  # users in one call on this process


Batch = dict[str, np.ndarray]  # columns of equal length: Ray Data's "numpy" batch format


class UserLists:
    """Events of whole users in (a ``Batch`` of ``EVENT_COLUMNS``), each user's top-``k`` rows out (``user_id``,
    ``rank``, ``item_id``, ``score``): called on chunks of users on this process, and on each user's group by
    Ray Data's ``map_groups`` in an actor (built once per actor: it holds the serving state and the id lists)."""

    def __init__(self, state: ServingState, meta: dict, k: int, exclude: str):
        if exclude not in EXCLUDE:
            raise IgcoreError(f"exclude must be one of {', '.join(EXCLUDE)}, not {exclude!r}")
        if k < 1:
            raise IgcoreError(f"k must be at least 1, not {k}")
        self.state, self.k, self.exclude = state, k, exclude
        self.meta = {key: meta[key] for key in ("user_ids", "item_ids", "type_names")}
        self.users, self.items = pd.Index(meta["user_ids"]), pd.Index(meta["item_ids"])
        self.types = pd.Index(meta["type_names"])
        self.item_ids = np.asarray(meta["item_ids"], dtype=object)

    def __call__(self, events: Batch) -> Batch:
        user_ids, by_user = np.unique(np.asarray(events["user_id"], dtype=object), return_inverse=True)
        users = self.users.get_indexer(pd.Index(user_ids))
        items = self.items.get_indexer(pd.Index(events["item_id"]))
        # an event type the model never saw counts as its first type, as the model's own reindexing does
        types = np.maximum(self.types.get_indexer(pd.Index(events["event_type"])), 0)
        known = (items >= 0) & (users[by_user] >= 0) & (users[by_user] < len(self.state.queries))
        order = np.argsort(by_user, kind="stable")  # each user's events together, in their order
        bounds = np.searchsorted(by_user[order], np.arange(len(user_ids) + 1))
        out: dict[str, list] = {"user_id": [], "rank": [], "item_id": [], "score": []}
        for b in range(len(user_ids)):
            mine = order[bounds[b]:bounds[b + 1]]
            mine = mine[known[mine]]
            if not len(mine):
                continue  # no event the model indexes (as igcore recommend reads the user)
            # one user's row at a time, as igcore recommend scores it: a matrix of several rows may round the
            # last bit of a score differently, and so break a near tie the other way
            row = self.state.score(users[b:b + 1])[0]
            top = top_items(row, excluded_items(items[mine], types[mine], list(self.types), self.exclude), self.k)
            out["user_id"] += [user_ids[b]] * len(top)
            out["rank"] += range(1, len(top) + 1)
            out["item_id"] += self.item_ids[top].tolist()
            out["score"] += row[top].tolist()
        return {"user_id": np.array(out["user_id"], dtype=object), "rank": np.array(out["rank"], dtype=np.int32),
                "item_id": np.array(out["item_id"], dtype=object), "score": np.array(out["score"], dtype=np.float32)}


@dataclasses.dataclass(frozen=True)
class ListsReport:
    users: int  # users with a list
    rows: int
    workers: int  # 1: this process; N: Ray actors
    seconds: float
    folder: Path

    def summary(self) -> str:
        where = "this process" if self.workers == 1 else f"{self.workers} Ray workers"
        return (f"top-K lists of {self.users:,} users ({self.rows:,} rows) written to {self.folder} by {where} "
                f"in {self.seconds:.1f} s")


def score_all(store: Store, out: Path, k: int = 10, exclude: str = "bought", model: Path | None = None,
              cluster: RayCluster | None = None, event_log: Path | None = None) -> ListsReport:
    """Every user's top-``k`` from the model at ``model`` (default: the store's) into the folder ``out``; on Ray
    Data when ``cluster`` is given, whose workers read the events from the export folder ``event_log`` (the store
    reads them from there too, from this call on, so that the model's state is at the same events)."""
    from igcore.pipeline.run import serving_state

    t0 = time.perf_counter()
    out = Path(out).resolve()
    if cluster is not None and event_log is None:
        raise IgcoreError("scoring on Ray reads the events from a Parquet export that every worker reaches: write "
                          "one with `igcore export --parquet DIR`, then pass --events DIR")
    if out.exists() and not (out / LISTS_RECORD).exists():
        raise IgcoreError(f"{out} exists and holds no igcore lists: name a new folder (it is replaced in whole)")
    if event_log is not None:
        from igcore.eventlog import use_event_log

        use_event_log(store, event_log)
    state, meta, path = serving_state(store, model)
    lists = UserLists(state, meta, k, exclude)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent) as tmp:
        fresh = Path(tmp) / "lists"
        if cluster is None:
            _score_here(store, lists, fresh)
        else:
            _score_on_ray(lists, fresh, cluster, event_log)
        users, rows = (int(v) for v in store.con.execute(
            "SELECT count(DISTINCT user_id), count(*) FROM read_parquet(?)", [str(fresh / "*.parquet")]
        ).fetchall()[0]) if any(fresh.glob("*.parquet")) else (0, 0)
        workers = 1 if cluster is None else cluster.workers
        (fresh / LISTS_RECORD).write_text(json.dumps({
            "model": str(path), "checkpoint_id": meta.get("checkpoint_id"), "k": k, "exclude": exclude,
            "users": users, "rows": rows, "workers": workers}, indent=2))
        if out.exists():
            shutil.rmtree(out)
        fresh.rename(out)
    return ListsReport(users, rows, workers, time.perf_counter() - t0, out)


def _score_here(store: Store, lists: UserLists, folder: Path, chunk_users: int = CHUNK_USERS) -> None:
    """Every user's events from the store (or its export view), scored on this process ``chunk_users`` users at a
    time into one file."""
    events = store.con.sql(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY user_id").fetchnumpy()
    users = np.asarray(events["user_id"], dtype=object)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.zeros(0, dtype=np.int64)
    bounds = [*starts[::chunk_users].tolist(), len(users)]
    parts = [lists({c: np.asarray(events[c])[a:b] for c in EVENT_COLUMNS}) for a, b in zip(bounds, bounds[1:])]
    parts = parts or [lists({c: np.zeros(0, dtype=object) for c in EVENT_COLUMNS})]  # no events: no rows
    folder.mkdir()
    frame = pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in LIST_COLUMNS})
    frame.to_parquet(folder / "part-0.parquet", index=False)


def _score_on_ray(lists: UserLists, folder: Path, cluster: RayCluster, event_log: Path) -> None:
    """The export's events as a Ray dataset (each worker reads day partitions itself), grouped by user and scored
    by up to ``cluster.workers`` actors into ``folder``."""
    with connected(cluster) as ray:
        events = ray.data.read_parquet(str(Path(event_log).resolve()), columns=EVENT_COLUMNS,
                                       file_extensions=["parquet"], partitioning=None)
        # one actor at first, up to N: the grouping's shuffle needs a CPU of its own before the actors take theirs
        scored = events.groupby("user_id", num_partitions=cluster.workers).map_groups(
            UserLists, fn_constructor_args=(lists.state, lists.meta, lists.k, lists.exclude),
            concurrency=(1, cluster.workers), batch_format="numpy")
        scored.write_parquet(str(folder))
