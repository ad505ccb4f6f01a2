"""A SIGKILL in the middle of an import leaves the store exactly as it was, and usable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from igcore.ingest import import_events
from igcore.store import Store

CHILD = """
import sys
from igcore.ingest import import_events
from igcore.store import Store
last = None
def progress(stage, done, total, info):
    global last
    if stage != last:
        last = stage
        print(stage, flush=True)
with Store(sys.argv[1]) as store:
    import_events(store, sys.argv[2], progress=progress)
print("finished", flush=True)
"""


def _snapshot(path: Path) -> list[tuple]:
    with Store(path) as store:
        return store.rows("""SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM imports),
                                    (SELECT count(*) FROM quarantine), (SELECT count(*) FROM items),
                                    (SELECT coalesce(sum(hash(user_id, item_id, ts)), 0) FROM events)""")


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["read", "write"])
def test_sigkill_midway_leaves_store_unchanged(tmp_path, kill_at):
    db = tmp_path / "store.duckdb"
    small = tmp_path / "small.csv"
    small.write_text("user_id,item_id,event_type,timestamp\nu1,i1,view,100\nu2,i2,buy,200\n,i3,view,300\n")
    with Store(db) as store:
        import_events(store, small)
    big = tmp_path / "big.csv"
    duckdb.sql(f"""COPY (SELECT 'u' || (i % 50000) AS user_id, 'i' || (i % 7919) AS item_id,
                          ['pv', 'cart', 'buy'][1 + (i % 3)::INT] AS behavior, 1511500000 + i AS timestamp
                   FROM range(2000000) t(i)) TO '{big}' (HEADER)""")
    before = _snapshot(db)

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(big)], stdout=subprocess.PIPE, text=True)
    stages = []
    for line in child.stdout:
        stages.append(line.strip())
        if stages[-1] == kill_at:
            time.sleep(0.15)
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, f"the import finished before it could be killed: {stages}"
    assert "finished" not in stages

    assert _snapshot(db) == before
    with Store(db) as store:  # usable: the same big file imports in full afterwards
        report = import_events(store, big)
        assert report.status == "ok" and report.rows_loaded == 2_000_000
        assert store.value("SELECT count(*) FROM events") == before[0][0] + 2_000_000
    assert os.path.exists(db)
