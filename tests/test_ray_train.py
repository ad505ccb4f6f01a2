"""Ray on the bundled sample: training on two Ray Train workers of a local cluster, each on its own users, hands
back one model that learned; on Ray Data, batch scoring then gives every user the lists this process gives, and
snapshot building the rows this process builds, reading the events from their Parquet export. All three share one
local Ray instance (starting one is the slow part). Ray is part of the test extra, so this runs in CI (never
skipped). How ``igcore train`` and ``igcore score`` pick their cluster is checked without starting Ray."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import ray  # noqa: F401  (the test extra installs it: a missing Ray fails here, it is not skipped)

from igcore.cli import _parser
from igcore.clistore import cluster_of
from igcore.cluster import RayCluster, connected
from igcore.eventlog import export_parquet
from igcore.interests.snapshots import build_snapshots, stored_config
from igcore.interests.staging import TABLE_ORDER
from igcore.pipeline.batch import LISTS_RECORD, score_all
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.run import recommend, train
from igcore.store import Store


def lists(folder: Path):
    return duckdb.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet') ORDER BY user_id, rank").df()


def test_the_commands_run_on_ray_only_when_asked():
    def cluster(*argv: str):
        return cluster_of(_parser().parse_args(argv))

    assert cluster("train") is None and cluster("score", "--out", "x", "--workers", "1") is None
    assert cluster("train", "--workers", "2") == RayCluster(2, None, None)
    assert cluster("train", "--address", "ray://head:10001", "--storage", "s3://b/runs") == RayCluster(
        1, "ray://head:10001", "s3://b/runs")
    assert cluster("score", "--out", "x", "--workers", "3") == RayCluster(3, None, None)


@pytest.mark.slow
@pytest.mark.timeout(600)  # a Ray instance starts and stops inside it; a fresh clone compiles every import
def test_two_ray_workers_train_the_sample_on_disjoint_users_and_score_it(prepared_sample: Path, tmp_path: Path):
    db = tmp_path / "ray.duckdb"
    db.write_bytes(prepared_sample.read_bytes())
    out, parquet, ray2 = tmp_path / "model", tmp_path / "log", RayCluster(2)
    with connected(ray2), Store(db) as store:  # one local Ray instance for training, scoring and snapshots
        train(store, PipelineConfig(epochs=1, use_text=False, device="cpu"), out, cluster=ray2)
        meta = json.loads((out / "model.json").read_text())
        users = len(meta["user_ids"])
        assert meta["users_per_worker"] == [(users + 1) // 2, users // 2]  # each user on exactly one worker (u % 2)
        scores = [e["valid_ndcg@10"] for e in meta["log"]]
        assert len(scores) == 1 and scores[0] > 0.03  # a random ranking of the sample's catalogue scores ~0.004

        here = score_all(store, tmp_path / "here", k=10, model=out)
        first = recommend(store, meta["user_ids"][0], 10, path=out)
        export_parquet(store, parquet)
        on_ray = score_all(store, tmp_path / "ray", k=10, model=out, cluster=ray2, event_log=parquet)
        built = build_snapshots(store, stored_config(store), chunk_events=75_000, cluster=ray2, event_log=parquet)
    assert (here.users, here.rows, here.workers) == (on_ray.users, on_ray.rows, 1) == (users, 10 * users, 1)
    mine = lists(tmp_path / "here")
    assert on_ray.workers == 2 and lists(tmp_path / "ray").equals(mine)  # the actors read the day partitions
    assert json.loads((tmp_path / "ray" / LISTS_RECORD).read_text())["rows"] == 10 * users
    one = mine[mine.user_id == meta["user_ids"][0]]
    assert one.item_id.tolist() == [r["item_id"] for r in first]  # what `igcore recommend` says, in its order
    np.testing.assert_allclose(one.score, [r["score"] for r in first], rtol=1e-6)

    # The snapshots built on Ray (two chunks of users, each read from the export by a worker) are the rows the
    # dashboard's first start built here in one chunk.
    assert built.users == users and built.new_events == 150_000
    with duckdb.connect(str(db), read_only=True) as ray_built, duckdb.connect(str(prepared_sample),
                                                                                read_only=True) as here_built:
        for table in TABLE_ORDER:
            rows = [con.sql(f"SELECT * FROM {table} ORDER BY ALL").df() for con in (ray_built, here_built)]
            assert len(rows[0]) > 0, table  # scores to the last bits: a chunk's matrix products add in their order
            pd.testing.assert_frame_equal(rows[0], rows[1], check_exact=False, rtol=1e-12, obj=table)
