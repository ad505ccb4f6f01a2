"""The dashboard's pages run under Streamlit's AppTest against a real store file."""

from __future__ import annotations

import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from igcore.ingest import import_events
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
