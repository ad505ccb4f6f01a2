"""Interest snapshots in the store: build them for every user, update them for new events, read a timeline.

``build_snapshots`` computes nodes, then every user's snapshots, edges, top-K lists and change points, and
replaces the interest tables in one transaction. The users are computed in chunks, each a pure function of its
users' events (:func:`chunk_tables`) whose rows are staged until the store takes them all in: on this process,
or on Ray Data (``--workers N``), whose workers read the events from a Parquet export.

``update_snapshots`` handles events imported since (by ``event_id``): only their users are touched; a touched
user's snapshots that cover none of the new events (and, for day/week cadence, lie in an earlier period) are kept
as they are, the rest are recomputed from the user's whole history. Snapshots remember the config they were
built with; an update always uses it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from igcore.errors import IgcoreError
from igcore.events import users_since
from igcore.interests.changes import detect_changes
from igcore.interests.compute import SnapshotRows, compute_rows
from igcore.interests.config import InterestConfig, parse_cadence
from igcore.interests.events import UserLog, load_user_log, user_chunks
from igcore.interests.nodes import InterestNodes, build_nodes, load_nodes, save_nodes
from igcore.interests.schema import SNAPSHOT_TABLES, ensure_schema, has_tables, read_state, write_state
from igcore.interests.scoring import ModelScorer
from igcore.interests.staging import insert_frame, staged
from igcore.interests.vectors import ItemVectors
from igcore.interests.weights import Points, period_index, snapshot_points
from igcore.progress import Progress, no_progress
from igcore.store import Store

if TYPE_CHECKING:
    from igcore.cluster import RayCluster


@dataclasses.dataclass(frozen=True)
class SnapshotReport:
    users: int  # users whose snapshots were (re)computed
    new_events: int  # events the run took in
    snapshots: int  # snapshot rows written
    changes: int  # change points written
    seconds: float
    kinds: tuple[str, ...]

    def summary(self) -> str:
        if self.new_events == 0:
            return "interest snapshots are up to date: no events since the last build or update"
        return (f"{self.snapshots:,} snapshots of {self.users:,} users written ({self.new_events:,} events, "
                f"interests: {', '.join(self.kinds)}, {self.changes:,} change points) in {self.seconds:.2f} s")


@dataclasses.dataclass(frozen=True)
class UserTimeline:
    """One user's stored snapshots, weights, edges, recommendations and change points, oldest first."""

    user_id: str
    snapshots: pd.DataFrame
    weights: pd.DataFrame
    edges: pd.DataFrame
    recommendations: pd.DataFrame
    changes: pd.DataFrame


def stored_config(store: Store) -> InterestConfig | None:
    state = read_state(store)
    return InterestConfig.from_json(state["config"]) if "config" in state else None


def latest_points(points: Points) -> np.ndarray:
    """Index of each user's last point."""
    last = np.ones(len(points), dtype=bool)
    last[:-1] = points.user[1:] != points.user[:-1]
    return np.flatnonzero(last)


CHUNK_EVENTS = 200_000  # events of the users computed in one pass: a chunk's arrays grow with it, and smaller
#                         chunks cost no more time per event (bench/scale.py measures the peak)


@dataclasses.dataclass
class _Totals:
    users: int = 0
    new_events: int = 0
    snapshots: int = 0
    changes: int = 0
    last_event_id: int = 0
    chunks: int = 0

    def add(self, users: int, new_events: int, snapshots: int, changes: int, last_event_id: int) -> None:
        self.users += users
        self.new_events += new_events
        self.snapshots += snapshots
        self.changes += changes
        self.last_event_id = max(self.last_event_id, last_event_id)
        self.chunks += 1


def build_snapshots(store: Store, config: InterestConfig | None = None, model: ModelScorer | None = None,
                    progress: Progress = no_progress, chunk_events: int = CHUNK_EVENTS,
                    cluster: RayCluster | None = None, event_log: Path | None = None) -> SnapshotReport:
    """Every user's snapshots from scratch (replaces earlier ones and their config), ``chunk_events`` events'
    users at a time. Each chunk's rows are staged (:mod:`igcore.interests.staging`) and one transaction at the end
    takes them all in: an interrupted build leaves the store as it was, and no transaction holds the rows of a
    large log in memory while chunks compute. With ``cluster``, the chunks are computed on Ray Data by workers
    that read the events from the export folder ``event_log`` (:mod:`igcore.interests.ray_build`) and stage them
    as Parquet files in it."""
    t0 = time.perf_counter()
    config = config or InterestConfig()
    if cluster is not None and event_log is None:
        raise IgcoreError("building snapshots on Ray reads the events from a Parquet export that every worker "
                          "reaches: write one with `igcore export --parquet DIR`, then pass --events DIR")
    ensure_schema(store)
    progress("interests", 0, 1, {"step": "nodes"})
    nodes, vectors = build_nodes(store, config, model.vectors() if model is not None else None)
    chunks = user_chunks(store, chunk_events)
    if not chunks:
        raise IgcoreError("the store holds no events: import some first (igcore ingest / igcore sample)")
    totals = _Totals()
    with staged(store, Path(event_log).resolve() if cluster is not None else None) as staging:
        if cluster is None:
            for i, users in enumerate(chunks):
                progress("interests", i, len(chunks), {"step": "snapshots", "users": totals.users})
                log = load_user_log(store, config, users, run=True)
                totals.add(*stage_chunk(functools.partial(staging.sink, i), log, nodes, vectors, config, model))
        else:
            from igcore.interests.ray_build import ChunkJob, chunks_on_ray

            for done in chunks_on_ray(chunks, ChunkJob(nodes, vectors, config, model, str(Path(event_log).resolve()),
                                                       str(staging.folder)), cluster):
                totals.add(*done)
                progress("interests", totals.chunks, len(chunks), {"step": "snapshots", "users": totals.users})
        with store.transaction() as con:
            for table in (*SNAPSHOT_TABLES, "interest_changes"):
                con.execute(f"DELETE FROM {table}")  # names from code
            save_nodes(con, nodes, vectors)
            staging.take_in(con)
            now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            write_state(con, {"config": config.to_json(), "last_event_id": str(totals.last_event_id),
                              "built_at": now, "updated_at": now})
    store.ensure_lookup_indexes()  # the explorer's one-user reads of a large log
    progress("interests", len(chunks), len(chunks), {})
    return SnapshotReport(totals.users, totals.new_events, totals.snapshots, totals.changes,
                          time.perf_counter() - t0, nodes.kinds)


def stage_chunk(sink: Callable[[str, pd.DataFrame], None], log: UserLog, nodes: InterestNodes,
                vectors: ItemVectors, config: InterestConfig,
                model: ModelScorer | None) -> tuple[int, int, int, int, int]:
    """One chunk's tables (:func:`chunk_tables`) handed to ``sink``, table by table (empty ones left out); its
    counts: users, events, snapshots, change points, last event id."""
    tables = chunk_tables(log, nodes, vectors, config, model)
    for table, frame in tables.items():
        if len(frame):
            sink(table, frame)
    return (log.n_users, len(log), len(tables["interest_snapshots"]), len(tables["interest_changes"]),
            int(log.event_id.max()))


def chunk_tables(log: UserLog, nodes: InterestNodes, vectors: ItemVectors, config: InterestConfig,
                 model: ModelScorer | None) -> dict[str, pd.DataFrame]:
    """Every snapshot row and change point of the log's users, as the store's tables hold them: one chunk's part
    of a build (a pure function of its inputs, on this process or in a Ray worker)."""
    points = snapshot_points(log, config.cadence)
    rows = compute_rows(log, points, nodes, vectors, config, model, latest_points(points))
    changes = detect_changes(log, nodes.codes(log.item_ids), config)
    return {**_row_tables(log, points, rows, nodes, np.ones(len(points), dtype=bool)),
            "interest_changes": _change_table(log, changes, nodes)}


def update_snapshots(store: Store, model: ModelScorer | None = None, progress: Progress = no_progress,
                     chunk_events: int = CHUNK_EVENTS) -> SnapshotReport:
    """Take in the events imported since the last build or update; only their users are recomputed."""
    t0 = time.perf_counter()
    state = read_state(store)
    stored = load_nodes(store)
    if "config" not in state or stored is None:
        raise IgcoreError("this store has no interest snapshots yet: build them first (igcore snapshots)")
    config, (nodes, vectors) = InterestConfig.from_json(state["config"]), stored
    last_id = int(state["last_event_id"])
    touched = users_since(store, last_id)
    if not touched:
        return SnapshotReport(0, 0, 0, 0, time.perf_counter() - t0, nodes.kinds)
    chunks = user_chunks(store, chunk_events, touched)
    totals = _Totals()
    with store.transaction() as con:
        for i, users in enumerate(chunks):
            progress("interests", i, len(chunks), {"step": "snapshots", "users": totals.users})
            log = load_user_log(store, config, users)
            written, changes = _update_users(con, store, log, last_id, nodes, vectors, config, model)
            totals.add(log.n_users, int((log.event_id > last_id).sum()), written, changes, int(log.event_id.max()))
        write_state(con, {"last_event_id": str(totals.last_event_id),
                          "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
    store.ensure_lookup_indexes()
    progress("interests", len(chunks), len(chunks), {})
    return SnapshotReport(totals.users, totals.new_events, totals.snapshots, totals.changes,
                          time.perf_counter() - t0, nodes.kinds)


def _update_users(con, store: Store, log: UserLog, last_id: int, nodes: InterestNodes, vectors: ItemVectors,
                  config: InterestConfig, model: ModelScorer | None) -> tuple[int, int]:
    """Recompute the log's users' snapshots affected by events after ``last_id`` (inside the caller's
    transaction); returns (snapshots written, change points written)."""
    points = snapshot_points(log, config.cadence)
    keep_no = kept_snapshots(log, points, last_id, config)
    compute = points.no >= keep_no[points.user]  # the last kept one comes along as the reference
    sub = points.subset(compute)
    write = sub.no > keep_no[sub.user]
    latest = latest_points(sub)
    latest = latest[write[latest]]
    prior = _prior_model_recs(store, log, keep_no, model) if model is not None else None
    rows = compute_rows(log, sub, nodes, vectors, config, model, latest, prior)
    changes = detect_changes(log, nodes.codes(log.item_ids), config)
    kept = pd.DataFrame({"user_id": log.user_ids, "keep_no": keep_no})
    con.register("_touched", kept)
    for table in SNAPSHOT_TABLES:
        con.execute(f"DELETE FROM {table} USING _touched WHERE {table}.user_id = _touched.user_id "  # names
                    f"AND {table}.snapshot_no > _touched.keep_no")  # from code
    con.execute("DELETE FROM interest_changes WHERE user_id IN (SELECT user_id FROM _touched)")
    con.unregister("_touched")
    written = _write_rows(con, log, sub, rows, nodes, write)
    insert_frame(con, "interest_changes", _change_table(log, changes, nodes))
    return written, len(changes)


def kept_snapshots(log: UserLog, points: Points, last_id: int, config: InterestConfig) -> np.ndarray:
    """Per user of the log: the highest snapshot number unaffected by events after ``last_id``. A snapshot is
    unaffected when it covers none of them and, for day/week cadence, its period ends before the first."""
    big = np.iinfo(np.int64).max
    new = log.event_id > last_id
    first_new = np.full(log.n_users, big, dtype=np.int64)
    np.minimum.at(first_new, log.user[new], log.pos[new])
    valid = points.end <= first_new[points.user]
    kind, _ = parse_cadence(config.cadence)
    if kind != "events":
        has_new = first_new < big
        first_row = log.start + np.where(has_new, first_new, 0)
        new_period = np.where(has_new, period_index(log.ts[first_row], kind), big)
        valid &= period_index(points.at, kind) < new_period[points.user]
    keep = np.zeros(log.n_users, dtype=np.int64)
    np.maximum.at(keep, points.user[valid], points.no[valid])
    return keep


def _prior_model_recs(store: Store, log: UserLog, keep_no: np.ndarray, model: ModelScorer) -> pd.DataFrame:
    """Each touched user's last stored model list among the kept snapshots (for rank changes)."""
    frame = pd.DataFrame({"user_id": log.user_ids, "keep_no": keep_no})
    store.con.register("_kept", frame)
    try:
        prior = store.df(
            "SELECT r.user_id, r.item_id, r.rank FROM recommendation_snapshots r JOIN _kept k USING (user_id) "
            "WHERE r.scorer = ? AND r.snapshot_no <= k.keep_no "
            "QUALIFY r.snapshot_no = max(r.snapshot_no) OVER (PARTITION BY r.user_id)", [model.name])
    finally:
        store.con.unregister("_kept")
    prior["user"] = pd.Index(log.user_ids).get_indexer(prior.pop("user_id"))
    return prior.assign(scorer=model.name)


def _names(nodes: InterestNodes, codes: pd.Series | np.ndarray) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.int64)
    return np.where(codes >= 0, nodes.interest[np.maximum(codes, 0)], None)


def _name_lists(nodes: InterestNodes, lists: pd.Series) -> list[list[str]]:
    """Lists of interest codes as lists of their ids (one lookup for all of them)."""
    lengths = [len(c) for c in lists]
    names = nodes.interest[np.fromiter((c for codes in lists for c in codes), np.int64)].tolist()
    ends = np.cumsum(lengths).tolist()
    return [names[end - n:end] for n, end in zip(lengths, ends)]


def _row_tables(log: UserLog, points: Points, rows: SnapshotRows, nodes: InterestNodes,
                write: np.ndarray) -> dict[str, pd.DataFrame]:
    """The rows of the points in ``write`` as the snapshot tables hold them, sorted by user then snapshot."""
    user_id, no = log.user_ids[points.user], points.no

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[write[frame["point"].to_numpy(np.int64)]]
        pt = frame["point"].to_numpy(np.int64)
        out = frame.drop(columns="point")
        out.insert(0, "snapshot_no", no[pt].astype(np.int32))
        out.insert(0, "user_id", user_id[pt])
        return out

    snaps = keyed(rows.snapshots.assign(
        snapshot_at=pd.to_datetime(points.at[rows.snapshots["point"]], unit="s"),
        n_events=points.end[rows.snapshots["point"]],
        top_interest=_names(nodes, rows.snapshots["top_interest"]),
        emerging=_name_lists(nodes, rows.snapshots["emerging"]),
        fading=_name_lists(nodes, rows.snapshots["fading"])))
    snaps = snaps[["user_id", "snapshot_no", "snapshot_at", "n_events", "top_interest", "jsd", "emerging", "fading"]]
    weights = keyed(rows.weights.assign(interest=_names(nodes, rows.weights["interest"])))
    edges = keyed(rows.edges.assign(src=_names(nodes, rows.edges["src"]), dst=_names(nodes, rows.edges["dst"])))
    recs = keyed(rows.recs.assign(prev_rank=rows.recs["prev_rank"].astype("Int64")))
    return {table: frame.sort_values(["user_id", "snapshot_no"], kind="stable") for table, frame in (
        ("interest_snapshots", snaps), ("interest_weights", weights), ("interest_edges", edges),
        ("recommendation_snapshots", recs))}


def _write_rows(con, log: UserLog, points: Points, rows: SnapshotRows, nodes: InterestNodes,
                write: np.ndarray) -> int:
    """Insert the rows of the points in ``write``; returns the number of snapshots written."""
    tables = _row_tables(log, points, rows, nodes, write)
    for table, frame in tables.items():
        insert_frame(con, table, frame)
    return len(tables["interest_snapshots"])


def _change_table(log: UserLog, changes: pd.DataFrame, nodes: InterestNodes) -> pd.DataFrame:
    rows = changes["row"].to_numpy(np.int64)
    frame = pd.DataFrame({"user_id": log.user_ids[changes["user"].to_numpy(np.int64)],
                          "event_index": changes["event_index"].to_numpy(np.int64),
                          "ts": pd.to_datetime(log.ts[rows], unit="s"),
                          "interest": _names(nodes, changes["interest"]), "faded": _names(nodes, changes["faded"]),
                          "jsd": changes["jsd"].to_numpy(np.float64)})
    return frame.sort_values(["user_id", "event_index"])


_TIMELINE_PARTS = {  # part: (columns, FROM ... WHERE user_id = $user, ORDER BY inside the list)
    "snapshots": ("snapshot_no, snapshot_at, n_events, top_interest, jsd, emerging, fading",
                  "interest_snapshots WHERE user_id = $user", "snapshot_no"),
    "weights": ("w.snapshot_no, w.interest, n.label, w.kind, w.weight, w.share, w.events, w.predicted",
                "interest_weights w JOIN interest_nodes n USING (interest) WHERE w.user_id = $user",
                "snapshot_no, share DESC, interest"),
    "edges": ("snapshot_no, src, dst, kind, weight", "interest_edges WHERE user_id = $user",
              "snapshot_no, kind, weight DESC"),
    "recommendations": ("snapshot_no, scorer, rank, item_id, score, prev_rank",
                        "recommendation_snapshots WHERE user_id = $user", "snapshot_no, scorer, rank"),
    "changes": ("event_index, ts, interest, faded, jsd", "interest_changes WHERE user_id = $user", "event_index"),
}
# One round trip: each part is a list of rows built by a scalar subquery (DuckDB's fixed cost per query is most
# of a one-user read; the tables are sorted by user, so each subquery reads a few row groups).
_TIMELINE_SQL = "SELECT " + ", ".join(
    f"(SELECT list(t ORDER BY {', '.join('t.' + o for o in order.split(', '))}) FROM (SELECT {cols} FROM {source}) t)"
    for cols, source, order in _TIMELINE_PARTS.values())


def timeline(store: Store, user_id: str) -> UserTimeline:
    """One user's whole stored timeline, oldest first, read in one query."""
    if not has_tables(store):
        raise IgcoreError("this store has no interest snapshots yet: build them first (igcore snapshots)")
    row = store.rows(_TIMELINE_SQL, {"user": user_id})[0]
    frames = {}
    for (part, (cols, _, _)), rows in zip(_TIMELINE_PARTS.items(), row, strict=True):
        names = [c.split(".")[-1].strip() for c in cols.split(",")]
        frames[part] = pd.DataFrame(rows or [], columns=names)
    return UserTimeline(user_id, **frames)
