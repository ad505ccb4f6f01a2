"""Snapshot building on Ray Data: chunks of users spread over actors that each read their chunk's events from a
Parquet export and write the chunk's rows (:func:`igcore.interests.snapshots.chunk_tables`) as Parquet files,
one per table and chunk, for the store to take in (``igcore snapshots --rebuild --events DIR --workers N``)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from igcore.cluster import RayCluster, connected
from igcore.interests.config import InterestConfig
from igcore.interests.nodes import InterestNodes
from igcore.interests.scoring import ModelScorer
from igcore.interests.vectors import ItemVectors


@dataclasses.dataclass(frozen=True)
class ChunkJob:
    """What every Ray worker of a build holds: the nodes, the config and the model's scorer (one whose model is
    plain arrays, such as a serving state, travels best), the export folder to read and the folder to write."""

    nodes: InterestNodes
    vectors: ItemVectors
    config: InterestConfig
    model: ModelScorer | None
    event_log: str
    out: str


class ChunkWorker:
    """A Ray Data actor: chunks of users in (their ids), each chunk's tables written as Parquet files under the
    job's folder (one per table and chunk), and its counts out."""

    def __init__(self, job: ChunkJob):
        import duckdb

        from igcore.eventlog import view_events

        self.job, self.con = job, duckdb.connect()
        view_events(self.con, Path(job.event_log))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from igcore.interests.events import read_user_log
        from igcore.interests.snapshots import stage_chunk
        from igcore.interests.staging import parquet_sink

        job, counts = self.job, []
        for chunk, users in zip(batch["chunk"].tolist(), batch["users"], strict=True):
            log = read_user_log(self.con, job.config, list(users), run=True)  # runs of every user
            sink = functools.partial(parquet_sink, Path(job.out), chunk)
            counts.append(stage_chunk(sink, log, job.nodes, job.vectors, job.config, job.model))
        return {name: np.array(column, dtype=np.int64) for name, column in zip(
            ("users", "events", "snapshots", "changes", "last_event_id"), zip(*counts, strict=True), strict=True)}


def chunks_on_ray(chunks: list[list[str]], job: ChunkJob, cluster: RayCluster) -> Iterator[tuple[int, ...]]:
    """Each chunk's counts (users, events, snapshots, change points, last event id) as its worker finishes it:
    the chunks are a Ray dataset spread over up to ``cluster.workers`` actors that hold the job."""
    with connected(cluster) as ray:
        items = [{"chunk": i, "users": users} for i, users in enumerate(chunks)]
        done = ray.data.from_items(items).map_batches(
            ChunkWorker, fn_constructor_args=(job,), batch_size=1, batch_format="numpy",
            concurrency=(1, cluster.workers))
        for row in done.iter_rows():
            yield (int(row["users"]), int(row["events"]), int(row["snapshots"]), int(row["changes"]),
                   int(row["last_event_id"]))
