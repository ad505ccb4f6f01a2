"""One path after every import: the CLI, the Data page and the Live page leave the same store, serving state and
interest snapshots for the same file (igcore.after_import)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from igcore.dashboard import live, models, uploads
from igcore.pipeline.checkpoint import has_checkpoint
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.run import checkpoint_dir, train
from igcore.recommend.serving import SERVING
from igcore.store import Store
from tests.test_app_live import T0, build, three_users

NEW = ("user_id,item_id,event_type,timestamp\n"
       f"u1,B1,view,{T0 + 9 * 3600}\nu1,B2,purchase,{T0 + 10 * 3600}\nu2,C1,view,{T0 + 11 * 3600}\n"
       f"u2,A1,view,{T0 + 12 * 3600}\nu4,A1,view,{T0 + 13 * 3600}\n,A1,view,{T0}\n")  # a new user; a row without one
KEYS = {"imports": "import_id, kind, file_name, sha256, rows_read, rows_loaded, rows_quarantined, rows_duplicate, "
                   "status, mapping, notes",
        "events": "*", "quarantine": "*", "items": "*", "interest_snapshots": "*", "interest_weights": "*",
        "interest_edges": "*", "recommendation_snapshots": "*", "interest_changes": "*"}


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory) -> Path:
    """A small store with a catalogue, snapshots and a trained checkpoint beside it."""
    path = tmp_path_factory.mktemp("trained") / "shop.duckdb"
    build(path, three_users())
    with Store(path, read_only=True) as store:
        train(store, PipelineConfig(dim=16, max_len=10, epochs=2, eval_every=1, batch_size=64, memory_dim=16,
                                    time_dim=4, device="cpu", dropout=0.1, use_text=False, seed=0))
    return path


def copy_of(store: Path, folder: Path) -> Path:
    """The store and its checkpoint folder in a folder of their own (same file name, so the same layout)."""
    folder.mkdir()
    shutil.copy(store, folder / store.name)
    shutil.copytree(checkpoint_dir(store), checkpoint_dir(folder / store.name))
    return folder / store.name


def contents(path: Path) -> dict[str, object]:
    with Store(path, read_only=True) as store:
        out: dict[str, object] = {t: store.df(f"SELECT {cols} FROM {t} ORDER BY ALL") for t, cols in KEYS.items()}
    out["serving"] = load_file(str(checkpoint_dir(path) / SERVING))
    return out


def test_cli_data_page_and_live_page_leave_the_same_state(trained_store, tmp_path):
    csv = tmp_path / "new.csv"
    csv.write_text(NEW)
    via_cli, via_data, via_live = (copy_of(trained_store, tmp_path / name) for name in ("cli", "data", "live"))
    before = load_file(str(checkpoint_dir(via_cli) / SERVING))

    done = subprocess.run([sys.executable, "-m", "igcore.cli", "ingest", str(csv), "--db", str(via_cli)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "model: online state rebuilt from the 16 stored events it knows (+3 since training" in done.stdout
    assert "interest snapshots: updated: " in done.stdout

    outcome = uploads.import_upload(via_data, NEW.encode(), "new.csv", "events")
    assert outcome.report.rows_loaded == 5 and outcome.report.rows_quarantined == 1
    assert outcome.after.touched_users == ["u1", "u2", "u4"]
    assert outcome.after.model.endswith("2 new user-item pairs name a user or item the model was not trained on "
                                        "and were left out (retrain to include them)")

    held = models.load_live_model(via_live)
    result = live.add_events(via_live, "u2", NEW.encode(), "new.csv", held)
    assert held.last_event_id == 18 and held.scorer is not None  # the live model took over the refreshed one
    assert result.report.rows_loaded == 5

    cli, data, page = contents(via_cli), contents(via_data), contents(via_live)
    for table in KEYS:
        pd.testing.assert_frame_equal(cli[table], data[table], obj=table)
        pd.testing.assert_frame_equal(cli[table], page[table], obj=table)
    assert len(cli["events"]) == 18 and len(cli["interest_snapshots"]) > 0
    for name in ("queries", "sources", "items"):
        assert np.array_equal(cli["serving"][name], data["serving"][name])
        assert np.array_equal(cli["serving"][name], page["serving"][name])
    assert not np.array_equal(cli["serving"]["queries"], before["queries"])  # the new events moved users
    scores = held.scorer.model.score(np.arange(len(cli["serving"]["queries"])))
    assert np.allclose(scores, cli["serving"]["queries"] @ cli["serving"]["items"].T, atol=1e-5)


def test_without_a_model_the_import_still_updates_the_snapshots(tmp_path):
    path = tmp_path / "shop.duckdb"
    build(path, three_users())
    outcome = uploads.import_upload(path, NEW.encode(), "new.csv", "events")
    assert not has_checkpoint(checkpoint_dir(path))
    assert outcome.after.model == "no trained model: recommendations come from the evidence scorer"
    assert outcome.after.snapshots.startswith("updated: ") and outcome.after.snapshots_ok
    assert outcome.after.scorer is None


def test_a_checkpoint_of_an_older_network_is_reported_and_the_import_stands(trained_store, tmp_path):
    import json

    path = copy_of(trained_store, tmp_path / "old")
    meta = checkpoint_dir(path) / "model.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format": 2}))
    outcome = uploads.import_upload(path, NEW.encode(), "new.csv", "events")
    assert outcome.report.rows_loaded == 5
    assert outcome.after.model.startswith("not refreshed: the model at ") and "train it again" in outcome.after.model
    assert outcome.after.snapshots.startswith("updated: ")
