"""One path after every import: the CLI, the Data page and the Live page leave the same store, serving state and
interest snapshots for the same file (igcore.after_import)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.numpy import load_file

from igcore.after_import import import_and_refresh
from igcore.dashboard import live, models, uploads
from igcore.events import last_event_id, load_interactions
from igcore.forget import forget
from igcore.pipeline.checkpoint import has_checkpoint
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.run import checkpoint_dir, load, recommend, reindexed, train
from igcore.recommend.serving import SERVING
from igcore.store import Store
from igcore.update.saved import ONLINE
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
                                    time_dim=4, device="cpu", dropout=0.1, use_text=False, seed=0,
                                    samples="positions", source_dropout=0.0))
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
    assert "model: online state moved by the 5 new events (resumed from its saved state" in done.stdout
    assert "interest snapshots: updated: " in done.stdout

    outcome = uploads.import_upload(via_data, NEW.encode(), "new.csv", "events")
    assert outcome.report.rows_loaded == 5 and outcome.report.rows_quarantined == 1
    assert outcome.after.touched_users == ["u1", "u2", "u4"]
    assert outcome.after.model.endswith("; new to the model: 1 users, served from their events, and 1 items, 1 "
                                        "served from their text, attributes or co-occurrences")

    held = models.load_live_model(via_live)
    result = live.add_events(via_live, "u2", NEW.encode(), "new.csv", held)
    assert held.last_event_id == 18 and held.scorer is not None  # the live model took over the refreshed one
    assert held.meta["user_ids"][-1] == "u4"  # with the user who joined: a what-if for them uses the model
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
    recs = cli["recommendation_snapshots"]
    with Store(via_cli, read_only=True) as store:  # the touched users' model lists rank by recommend's scores
        for user in ("u1", "u2", "u4"):
            mine = recs[(recs["user_id"] == user) & (recs["scorer"] == "model")]
            latest = mine[mine["snapshot_no"] == mine["snapshot_no"].max()].sort_values("rank")
            served = {r["item_id"]: r["score"] for r in recommend(store, user, k=100, exclude="none") if "rank" in r}
            assert len(latest) > 0
            assert latest["score"].tolist() == pytest.approx([served[i] for i in latest["item_id"]], abs=1e-6)


def test_an_import_moves_the_saved_online_state_without_replaying_the_log(trained_store, tmp_path):
    path = copy_of(trained_store, tmp_path / "resume")
    with Store(path, read_only=True) as store:
        model, meta = load(store)  # resumed from the state training saved
        since = last_event_id(store)
    known = ("user_id,item_id,event_type,timestamp\n"  # users and items the model was trained on
             f"u1,B1,view,{T0 + 9 * 3600}\nu1,B2,view,{T0 + 10 * 3600}\nu2,A1,view,{T0 + 11 * 3600}\n")
    with Store(path) as store:
        after = import_and_refresh(store, io.BytesIO(known.encode()), name="known.csv")
        fed = reindexed(load_interactions(store, since), meta)
    assert after.model == ("online state moved by the 3 new events (resumed from its saved state; no gradient "
                           "steps), serving state saved")
    model.update(fed)  # the state training saved, fed the same events in memory
    users = np.arange(model.n_users)
    assert np.allclose(after.scorer.model.score(users), model.score(users), atol=1e-5)
    saved = load_file(str(checkpoint_dir(path) / SERVING))  # the touched users' rows, the others copied
    full = model.serving_state("")
    for name in ("queries", "sources", "items"):
        assert np.allclose(saved[name], getattr(full, name), atol=1e-5), name
    with Store(path, read_only=True) as store:
        again, _ = load(store)  # the next start resumes the state the import saved
    assert np.allclose(again.score(users), model.score(users), atol=1e-5)
    newcomer = f"user_id,item_id,event_type,timestamp\nu9,A1,view,{T0 + 20 * 3600}\n"  # a new user, known item
    with Store(path) as store:
        after = import_and_refresh(store, io.BytesIO(newcomer.encode()), name="u9.csv")
    assert after.model.endswith("serving state saved; new to the model: 1 users, served from their events")
    saved = load_file(str(checkpoint_dir(path) / SERVING))
    full = after.scorer.model.serving_state("")
    assert len(saved["queries"]) == model.n_users + 1 and np.allclose(saved["queries"], full.queries, atol=1e-5)


def test_new_users_and_items_are_served_by_the_model_at_once(trained_store, tmp_path):
    path = copy_of(trained_store, tmp_path / "join")
    before = load_file(str(checkpoint_dir(path) / SERVING))
    with Store(path) as store:
        after = import_and_refresh(store, io.BytesIO(NEW.encode()), name="new.csv")
        rows = recommend(store, "u4", k=3, exclude="seen")  # a user the checkpoint never saw
    assert [r["rank"] for r in rows] == [1, 2, 3] and "A1" not in {r["item_id"] for r in rows}
    assert "new to the model: 1 users, served from their events, and 1 items, 1 served" in after.model
    model = after.scorer.model
    saved, full = load_file(str(checkpoint_dir(path) / SERVING)), model.serving_state("")
    for name in ("queries", "sources", "items", "hidden", "latest"):
        assert np.allclose(saved[name], getattr(full, name), atol=1e-5), name
    untouched = [after.scorer.user_ids.index(u) for u in after.scorer.user_ids if u not in ("u1", "u2", "u4")]
    assert untouched and np.array_equal(saved["queries"][untouched], before["queries"][untouched])  # the item
    assert np.array_equal(saved["items"][:len(before["items"])], before["items"])  # that joined re-ran no graph
    items = list(after.scorer.item_ids)
    c1 = items.index("C1")  # only u2 chose it: its id row is the mean of u2's other choices' (B1 twice)
    trained = [items.index(i) for i in ("B1", "B2", "B1", "B3", "A1")]
    id_rows = model.net.items.item_id.weight.detach()
    assert torch.allclose(id_rows[c1 + 1], id_rows[[i + 1 for i in trained]].mean(dim=0), atol=1e-6)
    with Store(path, read_only=True) as store:
        again, meta = load(store)  # joined for good: the next load builds the same network
    assert meta["user_ids"][-1] == "u4" and meta["item_ids"][-1] == "C1"
    assert torch.equal(again.net.items.item_id.weight, model.net.items.item_id.weight)
    users = np.arange(again.n_users)
    assert np.allclose(again.score(users), model.score(users), atol=1e-5)


def test_an_item_that_joins_gets_the_trained_attribute_tokens_of_its_catalogue_row(trained_store, tmp_path):
    path = copy_of(trained_store, tmp_path / "attrs")
    with Store(path) as store:  # a new catalogue row with a trained category and brand, then an event on it
        import_and_refresh(store, io.BytesIO(b"item_id,title,category,brand\nA4,Trail Sock,Running,Stride\n"),
                           kind="items", name="a4.csv")
        after = import_and_refresh(store, io.BytesIO(f"user_id,item_id,event_type,timestamp\nu1,A4,view,"
                                                     f"{T0 + 30 * 3600}\n".encode()), name="a4-event.csv")
    items = list(after.scorer.item_ids)
    attrs = after.scorer.model.net.items.attrs  # rows 1-based: row 0 pads
    assert items[-1] == "A4" and attrs[items.index("A4") + 1].count_nonzero() == 2
    assert torch.equal(attrs[items.index("A4") + 1], attrs[items.index("A1") + 1])  # Running, Stride: as A1


def test_a_joined_item_gets_the_recorded_tokens_after_the_trained_items_rows_changed(trained_store, tmp_path):
    path = copy_of(trained_store, tmp_path / "renamed")
    with Store(path) as store:  # every trained item's category renamed, then a new item of the old ones
        store.con.execute("UPDATE items SET category = 'Renamed ' || category")
        import_and_refresh(store, io.BytesIO(b"item_id,title,category,brand\nA4,Trail Sock,Running,Stride\n"),
                           kind="items", name="a4.csv")
        after = import_and_refresh(store, io.BytesIO(f"user_id,item_id,event_type,timestamp\nu1,A4,view,"
                                                     f"{T0 + 30 * 3600}\n".encode()), name="a4-event.csv")
    items = list(after.scorer.item_ids)
    attrs = after.scorer.model.net.items.attrs
    assert torch.equal(attrs[items.index("A4") + 1], attrs[items.index("A1") + 1])  # the trained Running, Stride


def test_forgetting_a_user_who_joined_after_training_leaves_no_trace_beside_the_model(trained_store, tmp_path):
    path = copy_of(trained_store, tmp_path / "forget")
    with Store(path) as store:
        import_and_refresh(store, io.BytesIO(NEW.encode()), name="new.csv")
    folder = checkpoint_dir(path)
    assert b"u4" in (folder / ONLINE).read_bytes()
    report = forget(path, "u4", "test")
    assert report.model == "the user joined the model after training; serving state rebuilt from the remaining events"
    assert [f.name for f in folder.iterdir() if b"u4" in f.read_bytes()] == []
    with Store(path, read_only=True) as store:
        assert "u4" not in load(store)[1]["user_ids"]


def test_a_back_dated_event_replays_the_log(trained_store, tmp_path):
    path = copy_of(trained_store, tmp_path / "backdated")
    old = f"user_id,item_id,event_type,timestamp\nu3,A3,view,{T0 - 3600}\n"  # before every stored event
    with Store(path) as store:
        after = import_and_refresh(store, io.BytesIO(old.encode()), name="old.csv")
    assert after.model.startswith("online state rebuilt from the 14 stored events (+1 since training")
    (checkpoint_dir(path) / ONLINE).unlink()
    with Store(path, read_only=True) as store:
        replayed, _ = load(store)
    users = np.arange(replayed.n_users)
    assert np.allclose(after.scorer.model.score(users), replayed.score(users), atol=1e-5)


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
