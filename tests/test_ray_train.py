"""``igcore train --workers 2`` on the bundled sample: two Ray Train workers on a local Ray cluster, each on its
own users, hand back one model that learned, and the usual checkpoint serves it. Ray is part of the test extra,
so this runs in CI (never skipped)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import ray  # noqa: F401  (the test extra installs it: a missing Ray fails here, it is not skipped)


@pytest.mark.slow
@pytest.mark.timeout(480)  # a Ray instance starts and stops inside it
def test_two_ray_workers_train_the_sample_on_disjoint_users(prepared_sample: Path, tmp_path: Path):
    db = tmp_path / "ray.duckdb"
    db.write_bytes(prepared_sample.read_bytes())
    out = tmp_path / "model"
    run = lambda *a: subprocess.run([sys.executable, "-m", "igcore.cli", *a, "--db", str(db)],  # noqa: E731
                                    capture_output=True, text=True, timeout=450)
    trained = run("train", "--workers", "2", "--set", "epochs=1", "--device", "cpu", "--out", str(out))
    assert trained.returncode == 0, trained.stderr[-3000:]
    meta = json.loads((out / "model.json").read_text())
    users = len(meta["user_ids"])
    assert meta["users_per_worker"] == [(users + 1) // 2, users // 2]  # each user on exactly one worker
    scores = [e["valid_ndcg@10"] for e in meta["log"]]
    assert len(scores) == 1 and scores[0] > 0.03  # a random ranking of the sample's catalogue scores ~0.004
    rec = run("recommend", meta["user_ids"][0], "-k", "5", "--json", "--model", str(out))
    assert rec.returncode == 0, rec.stderr
    assert len(json.loads(rec.stdout)) == 5
