"""Shared fixtures: a fresh DuckDB store file per test, offline model hub, the shared datasets or a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from igcore.devtools import bytecode_cache_on

bytecode_cache_on()  # the suite's processes compile each library once, not once per process
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if "PYTEST_XDIST_WORKER" in os.environ:  # two workers share the two cores: one math thread each, not two
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from igcore.paths import SHARED_DATA  # noqa: E402
from igcore.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _apptest_runs_app_py_as_served():
    """AppTest starts every run in Streamlit's legacy pages/ mode (it resets ``PagesManager.uses_pages_directory``
    and our pages/ folder turns it on), where a page runs alone, outside app.py's frame. ``igcore app`` starts its
    server with that mode off (igcore.dashboard.serve.use_navigation_only); here AppTest gets a PagesManager whose
    reset cannot turn it back on, so tests run app.py as the server does."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class ServedPagesManager(PagesManager):  # AppTest resets this subclass's flag; the base's stays off
        pass

    original = app_test.PagesManager
    app_test.PagesManager = ServedPagesManager
    PagesManager.uses_pages_directory = False
    yield
    app_test.PagesManager = original


@pytest.fixture(autouse=True)
def _store_mode_per_test():
    """app.py switches the process to one shared writer (for its sessions' threads); AppTest runs it in this
    process, so the switch is undone after each test."""
    yield
    Store.one_writer_per_process = False
    Store.keep_open_s = 0.0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def store(db_path: Path):
    with Store(db_path) as s:
        yield s


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a clean skip on a fresh clone that lacks it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (fresh clone): dataset tests skipped")
    return SHARED_DATA


def one_user_store(db: Path, folder: Path, user: str, start_ts: int) -> Path:
    """A store of two catalogue items and eight events of ``user``, a minute apart from ``start_ts``."""
    from igcore.ingest import import_events, import_items

    (folder / "items.csv").write_text("item_id,title,category\ni1,Red Shoe,A\ni2,Blue Cup,B\n")
    (folder / "events.csv").write_text("user_id,item_id,timestamp\n" + "".join(
        f"{user},i{k % 2 + 1},{start_ts + 60 * k}\n" for k in range(8)))
    with Store(db) as store:
        import_items(store, folder / "items.csv")
        import_events(store, folder / "events.csv")
    return db


def cycle_log(n_items: int = 30, n_users: int = 60, length: int = 10):
    """User u sees items u, u+1, ... (mod n_items): item i is always followed by item i + 1 (a next-item rule
    that a sequence model learns)."""
    from igcore.events import from_arrays

    rows = [(f"u{u:02d}", f"i{(u + k) % n_items:02d}", k) for u in range(n_users) for k in range(length)]
    users, items, ts = zip(*rows)
    return from_arrays(users, items, ts)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def prepared_sample(tmp_path_factory) -> Path:
    """A store as the dashboard's first start leaves it (the bundled sample and its interest snapshots), built
    once per session; copy it with ``sample_app_db`` rather than writing to it."""
    from igcore.dashboard.overview import prepare_store

    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    prepare_store(path)
    return path


def use_store_copy(source: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of a store built once, set as the dashboard's store (``IGCORE_DB``)."""
    import shutil

    path = tmp_path / "app.duckdb"
    shutil.copy(source, path)
    monkeypatch.setenv("IGCORE_DB", str(path))
    return path


@pytest.fixture
def sample_app_db(prepared_sample: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the prepared sample store, set as the dashboard's store."""
    return use_store_copy(prepared_sample, tmp_path, monkeypatch)
