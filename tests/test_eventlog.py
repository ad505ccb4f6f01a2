"""The log beyond one file: a Parquet export by day, read back in the store's place, appended, forgotten."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from igcore.errors import IgcoreError
from igcore.eventlog import MANIFEST, export_parquet, forget_in_exports, use_event_log
from igcore.events import load_interactions
from igcore.forget import forget
from igcore.ingest import import_events
from igcore.store import Store
from igcore.synth import SynthConfig, generate, write
from tests.conftest import write_csv

H = "user_id,item_id,event_type,timestamp\n"
DAY = 86_400
# Two days: u1 and u2 on day 0 (u2 twice within one second), u1 and u3 on day 1.
FIRST = H + f"u1,i1,view,{DAY * 10 + 5}\nu2,i2,view,{DAY * 10 + 9}\nu2,i1,purchase,{DAY * 10 + 9}\n" \
    f"u1,i3,view,{DAY * 11 + 1}\nu3,i2,view,{DAY * 11 + 2}\n"


def same_log(a, b) -> None:
    for field in ("user", "item", "ts", "event_type", "user_ids", "item_ids"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert a.type_names == b.type_names


def folder_log(db_path, folder):
    with Store(db_path, read_only=True) as store:
        use_event_log(store, folder)
        return load_interactions(store)


def day_files(folder) -> list[str]:
    return sorted(p.parent.name for p in folder.glob("day=*/*.parquet"))


def test_an_export_holds_the_same_interactions_one_file_a_day(store, db_path, tmp_path):
    import_events(store, write_csv(tmp_path / "a.csv", FIRST))
    report = export_parquet(store, tmp_path / "log")
    assert (report.days_written, report.days_unchanged, report.events_written) == (2, 0, 5)
    assert day_files(tmp_path / "log") == ["day=1970-01-11", "day=1970-01-12"]
    record = json.loads((tmp_path / "log" / MANIFEST).read_text())
    assert record["days"] == {"1970-01-11": [3, 3], "1970-01-12": [2, 5]}
    expected = load_interactions(store)
    store.close()
    same_log(folder_log(db_path, tmp_path / "log"), expected)


def test_a_later_export_writes_new_days_and_days_with_late_events_only(store, db_path, tmp_path):
    import_events(store, write_csv(tmp_path / "a.csv", FIRST))
    export_parquet(store, tmp_path / "log")
    day0 = next((tmp_path / "log" / "day=1970-01-11").glob("*.parquet")).stat().st_mtime_ns
    # a late event on day 1 and a new day 2; day 0 is untouched
    import_events(store, write_csv(tmp_path / "b.csv", H + f"u4,i4,view,{DAY * 11 + 7}\nu1,i2,view,{DAY * 12}\n"))
    report = export_parquet(store, tmp_path / "log")
    assert (report.days_written, report.days_unchanged, report.events_written) == (2, 1, 4)
    assert next((tmp_path / "log" / "day=1970-01-11").glob("*.parquet")).stat().st_mtime_ns == day0
    assert export_parquet(store, tmp_path / "log").days_written == 0
    expected = load_interactions(store)
    store.close()
    got = folder_log(db_path, tmp_path / "log")
    same_log(got, expected)
    assert len(got) == 7


def test_a_forgotten_user_leaves_every_exported_day(store, db_path, tmp_path):
    import_events(store, write_csv(tmp_path / "a.csv", FIRST))
    export_parquet(store, tmp_path / "log")
    store.close()
    report = forget(db_path, "u2", "cli")
    assert "exports: 1 day files in 1 Parquet export folders rewritten without this user's events" in report.lines()
    with Store(db_path) as again:
        assert export_parquet(again, tmp_path / "log").days_written == 0  # the record follows the rewrite
    log = folder_log(db_path, tmp_path / "log")
    assert "u2" not in log.user_ids.tolist() and len(log) == 3
    for f in (tmp_path / "log").rglob("*"):
        if f.is_file():
            assert b"u2" not in f.read_bytes()


def test_a_day_left_empty_by_forgetting_is_removed(store, tmp_path):
    import_events(store, write_csv(tmp_path / "a.csv", H + f"u1,i1,view,{DAY}\nu2,i1,view,{DAY * 2}\n"))
    export_parquet(store, tmp_path / "log")
    store.con.execute("DELETE FROM events WHERE user_id = 'u2'")
    forget_in_exports(store, "u2")
    assert day_files(tmp_path / "log") == ["day=1970-01-02"]
    assert forget_in_exports(store, "u9") == "none of the exported Parquet folders held this user's events"


def test_a_folder_of_something_else_is_refused(store, tmp_path):
    import_events(store, write_csv(tmp_path / "a.csv", FIRST))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(IgcoreError, match="not empty and holds no igcore export"):
        export_parquet(store, tmp_path / "other")
    with pytest.raises(IgcoreError, match="holds no igcore export"):
        use_event_log(store, tmp_path / "other")
    export_parquet(store, tmp_path / "log")
    with Store(tmp_path / "second.duckdb") as second, pytest.raises(IgcoreError, match="another store"):
        export_parquet(second, tmp_path / "log")


def test_while_reading_a_folder_the_store_refuses_new_events(store, tmp_path):
    import_events(store, write_csv(tmp_path / "a.csv", FIRST))
    export_parquet(store, tmp_path / "log")
    assert use_event_log(store, tmp_path / "log") == 5
    with pytest.raises(Exception, match="not an table|not a table"):
        store.con.execute("INSERT INTO events SELECT * FROM events")


def test_train_snapshots_and_evaluation_read_the_folder_from_the_command_line(tmp_path):
    """The folder, not the store's table, is what each command reads: the store gets events the export lacks."""
    from tests.test_cli import run

    db = str(tmp_path / "s.duckdb")
    log = write(generate(SynthConfig(seed=3, n_users=30, n_items=60, n_events=600)), tmp_path / "gen")
    assert run("ingest", str(log["events"]), "--items", str(log["items"]), "--db", db).returncode == 0
    out = run("export", "--parquet", str(tmp_path / "log"), "--db", db)
    assert out.returncode == 0, out.stderr
    assert "(600 events), 0 unchanged" in out.stdout
    late = write_csv(tmp_path / "late.csv", H + "".join(f"late{k},i9,view,{2_000_000_000 + k}\n" for k in range(5)))
    assert run("ingest", late, "--db", db).returncode == 0  # in the store only

    snap = run("snapshots", "--rebuild", "--events", str(tmp_path / "log"), "--db", db, "--json")
    assert snap.returncode == 0, snap.stderr
    assert (json.loads(snap.stdout)["new_events"], json.loads(snap.stdout)["users"]) == (600, 30)

    trained = run("train", "--events", str(tmp_path / "log"), "--db", db, "--out", str(tmp_path / "model"),
                  "--set", "epochs=1", "--set", "dim=16", "--set", "use_text=false", "--set", "use_graph=false")
    assert trained.returncode == 0, trained.stderr
    assert json.loads((tmp_path / "model" / "model.json").read_text())["events"] == 600

    env = {**os.environ, "IGCORE_BENCH_OUT": str(tmp_path / "out")}
    bench = subprocess.run([sys.executable, "-m", "igcore.cli", "bench", "quality", "--dataset", str(tmp_path / "log"),
                            "--protocol", "loo", "--models", "MostPop", "SASRec", "--set", "epochs=1",
                            "--set", "dim=16"], capture_output=True, text=True, env=env, timeout=300)
    assert bench.returncode == 0, bench.stderr
    result = json.loads((tmp_path / "out" / "bench" / "results" / "log-loo.json").read_text())
    assert result["split"]["users"] == 30 and result["models"]["SASRec[dim=16,epochs=1]"]["cases"] == 30

    missing = run("train", "--events", str(tmp_path / "nowhere"), "--db", db)
    assert missing.returncode == 1 and "holds no igcore export" in missing.stderr
