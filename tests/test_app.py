"""The dashboard's pages run under Streamlit's AppTest against a real store file."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from igcore.ingest import import_events, import_items
from igcore.interests.schema import write_state
from igcore.interests.snapshots import build_snapshots
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.run import train
from igcore.store import Store
from tests.conftest import REPO


@pytest.fixture
def app_db(tmp_path, monkeypatch):
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("IGCORE_DB", str(path))
    return path


def test_first_start_loads_the_sample_and_shows_the_store(app_db):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Events": "150,000", "Users": "2,000", "Items": "1,500", "Quarantined rows": "0"}
    assert at.dataframe[0].value["rows_loaded"].tolist() == [1500, 150000]


def test_store_with_user_data_is_left_alone_and_quarantine_shown(app_db, tmp_path):
    csv = tmp_path / "e.csv"
    csv.write_text("user_id,item_id,timestamp\n<script>alert(1)</script>,i1,100\nu2,i2,never\n")
    with Store(app_db) as store:
        import_events(store, csv)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Events"] == "1"
    assert at.dataframe[1].value["reason"].tolist() == ["unparseable timestamp: 'never'"]


def test_locked_store_shows_a_message_not_a_trace(app_db):
    holder = subprocess.Popen([sys.executable, "-c", f"from igcore.store import Store; import time; "
                               f"s = Store({str(app_db)!r}); print('ok', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
        assert not at.exception
        assert "is in use by process" in at.error[0].value
    finally:
        holder.kill()
        holder.wait()


def _tiny_store(path, tmp_path) -> None:
    """A 4-item catalogue (import 1) and 12 events of two users (import 2), six each."""
    events = "user_id,item_id,event_type,timestamp\n" + "".join(
        f"u{u},i{(u + k) % 4 + 1},view,{1000 + 100 * u + k}\n" for u in (1, 2) for k in range(6))
    (tmp_path / "items.csv").write_text("item_id,title,category\ni1,Red Shoe,A\ni2,Blue Cup,B\ni3,Green Shoe,A\n"
                                        "i4,White Cup,B\n")
    (tmp_path / "events.csv").write_text(events)
    with Store(path) as store:
        import_items(store, tmp_path / "items.csv")
        import_events(store, tmp_path / "events.csv")


def test_home_without_a_model_links_to_the_pipeline_and_dates_the_snapshots(app_db, tmp_path):
    _tiny_store(app_db, tmp_path)
    with Store(app_db) as store:
        build_snapshots(store)
        write_state(store.con, {"built_at": "2026-11-30T10:00:00+00:00", "updated_at": "2026-11-30T12:30:09+00:00"})
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert [i.value for i in at.info] == ["No model trained yet: train one on the Pipeline page."]
    [link] = at.get("page_link")
    assert (link.proto.label, link.proto.page) == ("Pipeline: train a model", "pipeline")
    assert "4 interest snapshots of 2 users, built 2026-11-30 10:00 UTC, updated 2026-11-30 12:30 UTC" in [
        c.value for c in at.caption]


def test_home_names_the_trained_model_its_data_and_the_imports_since(app_db, tmp_path):
    _tiny_store(app_db, tmp_path)
    with Store(app_db, read_only=True) as store:
        _, folder = train(store, PipelineConfig(epochs=1, dim=16, use_text=False, device="cpu"))
    (tmp_path / "more.csv").write_text("user_id,item_id,timestamp\nu3,i1,5000\nu3,i2,5001\nu1,i3,5002\n")
    with Store(app_db) as store:
        import_events(store, tmp_path / "more.csv")
    meta = json.loads((folder / "model.json").read_text())
    trained, weight = dt.datetime.fromisoformat(meta["trained_at"]), meta["graph"]["weight"]
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert [i.value for i in at.info] == [
        f"Model: igcore-no-text (graph at the score, weight {weight:g}, dim 16), trained {trained:%Y-%m-%d %H:%M} "
        "UTC on 12 events (import 2); 1 import since (3 events the model was not trained on: retrain on the "
        "Pipeline page to include them)"]
    assert not at.get("page_link")
