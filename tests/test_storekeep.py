"""A server's store kept open between reads (igcore.storekeep): held while used, let go once idle."""

from __future__ import annotations

import time

import duckdb
import pytest

from igcore import storekeep
from igcore.store import Store, compact


def _instance_open(path) -> bool:
    """Whether this process has a database instance of ``path`` (a connection with another config is refused)."""
    try:
        duckdb.connect(str(path), config={"threads": 1}).close()
    except duckdb.ConnectionException:
        return True
    return False


def _wait_until(condition, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def kept(db_path):
    Store.one_writer_per_process, Store.keep_open_s = True, 0.3
    with Store(db_path) as store:
        store.con.execute("INSERT INTO meta VALUES ('k', 'v')")
    yield db_path
    storekeep.release(db_path)


def test_a_closed_store_stays_open_for_the_idle_window_then_is_let_go(kept):
    assert storekeep.is_kept(kept) and _instance_open(kept)
    with Store(kept, read_only=True) as store:  # a read finds the kept instance, with the write in it
        assert store.value("SELECT value FROM meta WHERE key = 'k'") == "v"
    assert _wait_until(lambda: not storekeep.is_kept(kept))
    assert not _instance_open(kept)  # the file is free for another process's writer
    with Store(kept) as store:  # and keeping starts again on the next use
        assert store.value("SELECT value FROM meta WHERE key = 'k'") == "v"
    assert storekeep.is_kept(kept)


def test_an_open_store_is_never_let_go_under_its_user(kept):
    with Store(kept) as store:
        assert _wait_until(lambda: not storekeep.is_kept(kept))  # the keeper's own connection goes...
        assert store.value("SELECT value FROM meta WHERE key = 'k'") == "v"  # ...the user's stays usable
        assert _instance_open(kept)


def test_compacting_releases_the_kept_store(kept):
    compact(kept)
    assert not storekeep.is_kept(kept)
    with Store(kept, read_only=True) as store:
        assert store.value("SELECT value FROM meta WHERE key = 'k'") == "v"


def test_a_command_line_process_keeps_nothing(db_path):
    with Store(db_path) as store:
        store.con.execute("SELECT 1")
    assert not storekeep.is_kept(db_path) and not _instance_open(db_path)
