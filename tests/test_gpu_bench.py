"""bench/gpu.sh, the GPU path's one prepared command, run as CI runs it: on the CPU at a tiny size. Every step
runs (train to early stop, stream through update, top-10, serve the trained weights elsewhere, device audit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from igcore.devtools import REPO

pytestmark = pytest.mark.slow


def test_gpu_script_runs_every_step_on_the_cpu(tmp_path):
    docs = (REPO / "docs" / "BENCHMARKS.md").read_text()
    done = subprocess.run(["bash", "bench/gpu.sh", "--device", "cpu", "--tiny", "--out", str(tmp_path),
                           "--set", "epochs=2", "--budget", "120"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((tmp_path / "gpu.json").read_text())
    assert (data["device"], data["tiny"]) == ("cpu", True)
    assert data["quality"]["epochs"] == 2 and 0 < data["quality"]["ndcg@10"] <= 1
    assert (data["stream"]["train_events"], data["stream"]["stream_events"]) == (4000, 2000)
    assert data["stream"]["update_events_per_s"] > 0 and data["stream"]["top10_p99_ms"] > 0
    assert data["cross_device"]["max_abs_score_diff"] < 1e-5  # the same weights score the same elsewhere
    assert data["audit"] == {"trained": {}, "streamed": {}}  # every tensor where it was asked to be
    assert "**Not yet run on a GPU**" in done.stdout
    assert (REPO / "docs" / "BENCHMARKS.md").read_text() == docs  # --out: nothing else written


def test_the_audit_names_every_tensor_off_the_asked_device():
    import torch

    from igcore.device import off_device

    tensors = [("net.w", torch.zeros(2)), ("memory.m", torch.ones(1, device="meta"))]
    assert off_device(tensors, "cpu") == {"memory.m": "meta"}
    assert off_device(tensors, "cuda") == {"net.w": "cpu", "memory.m": "meta"}
    assert off_device(tensors, torch.device("meta")) == {"net.w": "cpu"}
