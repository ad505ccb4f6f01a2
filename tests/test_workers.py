"""Data-parallel training without Ray: user shards, each worker's rows, and two real gloo processes that train
one model together (the Ray run in ``test_ray_train.py`` starts the same workers through Ray Train). The two
processes are plain subprocesses, not multiprocessing's spawn, which would re-run the pytest worker's main
module (the app, once an AppTest has run there)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from igcore.pipeline.model import IgcoreRecommender
from igcore.pipeline.windows import training_rows
from igcore.pipeline.workers import ALONE, Workers
from tests.conftest import REPO
from tests.test_model_state import TINY, _planted


def test_every_user_is_on_exactly_one_worker():
    users = np.arange(10)
    masks = [Workers(r, 3).owns(users) for r in range(3)]
    assert [np.flatnonzero(m).tolist() for m in masks] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert (np.sum(masks, axis=0) == 1).all()
    assert ALONE.owns(users).all() and not ALONE.parallel


def test_a_worker_trains_exactly_its_users_rows():
    log = _planted(n_users=7, per_user=9)
    for prefixes in (False, True):
        rows = training_rows(log, TINY.max_len, TINY.gap_buckets, prefixes=prefixes)
        shards = [rows.of_users(Workers(r, 2).owns) for r in range(2)]
        assert sorted(np.concatenate([s.users for s in shards]).tolist()) == sorted(rows.users.tolist())
        assert [sorted(set(s.users.tolist())) for s in shards] == [[0, 2, 4, 6], [1, 3, 5]]
        assert sum(s.positions for s in shards) == rows.positions
        mine = np.flatnonzero(rows.users % 2 == 1)  # worker 1's rows are the full rows of its users
        got, want = shards[1].take(np.arange(len(mine))), rows.take(mine)
        for field in ("items", "targets", "target_events", "lengths", "final"):
            assert np.array_equal(getattr(got, field), getattr(want, field)), field


def test_alone_the_agreements_are_this_process_s_own_values():
    assert ALONE.mean(0.25, 7) == 0.25 and ALONE.any(True) and not ALONE.any(False)
    assert ALONE.total(5) == 5 and ALONE.each(5) == [5]
    module = torch.nn.Linear(2, 2)
    assert ALONE.wrap(module) is module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_as_worker(rank: int, port: int, folder: str) -> None:
    """One of two gloo workers (run in a process of its own): train, then write the weights and the log."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    try:
        workers = Workers(rank, 2)
        log = _planted(n_users=25, per_user=12)
        last = log.positions_in_user() == 11
        # worker 0 has 13 users, worker 1 has 12: four batches of four against three, so an epoch's steps differ
        model = IgcoreRecommender(TINY, epochs=12, lr=0.01, patience=20, valid_exclude_seen=False, batch_size=4)
        model.fit(log.subset(~last), log.subset(last), final_state=False, workers=workers)
        users = workers.each(int(workers.owns(np.unique(log.user)).sum()))
        np.savez(Path(folder) / f"{rank}.npz", **{k: v.numpy() for k, v in model.weights().items()})
        (Path(folder) / f"{rank}.json").write_text(json.dumps({"log": model.log, "users": users}))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_workers_train_one_model_that_learns(tmp_path: Path):
    port = _free_port()
    code = ("import sys; from tests.test_workers import train_as_worker as t; "
            "t(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(rank), str(port), str(tmp_path)], cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for rank in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
    first, second = (json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2))
    assert first["users"] == second["users"] == [13, 12]
    weights = [np.load(tmp_path / f"{r}.npz") for r in range(2)]
    for name in weights[0].files:  # averaged gradients keep the two copies identical
        assert np.array_equal(weights[0][name], weights[1][name]), name
    assert [e["valid_ndcg@10"] for e in first["log"]] == [e["valid_ndcg@10"] for e in second["log"]]
    scores = [e["valid_ndcg@10"] for e in first["log"]]
    assert len(scores) == 12 and max(scores) > scores[0] + 0.2  # validation on both shards' users rises
