"""Store behaviour around imports: re-imports, overlapping exports, order, uploads, the write lock."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from igcore.config import IngestConfig
from igcore.errors import FileTooLargeError, StoreLockedError
from igcore.events import from_arrays, load_interactions
from igcore.ingest import import_events, import_items
from igcore.ingest import runner as runner_module
from igcore.ingest import source as source_module
from igcore.store import Store
from tests.conftest import write_csv

H = "user_id,item_id,event_type,timestamp\n"


def test_same_file_twice_is_reported_and_changes_nothing(store, tmp_path):
    path = write_csv(tmp_path / "a.csv", H + "u1,i1,view,100\nu2,i2,view,200\n")
    first = import_events(store, path)
    again = import_events(store, path)
    assert again.status == "already_imported" and again.import_id == first.import_id
    assert store.rows("SELECT count(*), (SELECT count(*) FROM imports) FROM events") == [(2, 1)]


def test_overlapping_export_counts_stored_events_as_duplicates(store, tmp_path):
    import_events(store, write_csv(tmp_path / "a.csv", H + "u1,i1,view,100\nu2,i2,view,200\n"))
    report = import_events(store, write_csv(tmp_path / "b.csv", H + "u2,i2,view,200\nu3,i3,view,300\n"))
    assert (report.rows_loaded, report.rows_duplicate) == (1, 1)
    assert store.rows("SELECT user_id FROM events ORDER BY event_id") == [("u1",), ("u2",), ("u3",)]


def test_event_ids_keep_file_order_for_equal_timestamps(store, tmp_path):
    rows = "".join(f"u1,i{k},view,100\n" for k in (5, 3, 9, 1, 7))
    import_events(store, write_csv(tmp_path / "a.csv", H + rows))
    assert [r[0] for r in store.rows("SELECT item_id FROM events ORDER BY event_id")] == ["i5", "i3", "i9", "i1", "i7"]


def test_loaded_events_are_numbered_as_from_arrays_numbers_them(store, tmp_path):
    rows = [("u10", "é", "2024-01-01 00:00:05", "view"), ("u2", "z", "2024-01-01 00:00:01", "purchase"),
            ("U1", "a", "2024-01-01 00:00:01", "view"), ("u10", "Z", "2024-01-01 00:00:03", "cart")]
    import_events(store, write_csv(tmp_path / "e.csv", "user_id,item_id,timestamp,event_type\n" +
                                   "".join(",".join(r) + "\n" for r in rows)))
    loaded = load_interactions(store)
    assert loaded.user_ids.tolist() == ["U1", "u10", "u2"] and loaded.item_ids.tolist() == ["Z", "a", "z", "é"]
    assert loaded.type_names == ("cart", "purchase", "view")  # sorted by code point, as from_arrays sorts
    assert loaded.user.tolist() == [2, 0, 1, 1] and loaded.item.tolist() == [2, 1, 0, 3]  # time, then file order
    expected = from_arrays(["u2", "U1", "u10", "u10"], ["z", "a", "Z", "é"], [1704067201, 1704067201, 1704067203,
                           1704067205], ["purchase", "view", "cart", "view"])
    for field in ("user", "item", "ts", "event_type", "user_ids", "item_ids"):
        assert getattr(loaded, field).tolist() == getattr(expected, field).tolist(), field
    since = load_interactions(store, after_event_id=2)  # the file's last two rows: numbered among themselves
    assert since.user_ids.tolist() == ["U1", "u10"] and since.type_names == ("cart", "view")
    assert since.user.tolist() == [0, 1] and since.event_type.tolist() == [1, 0]


def test_uploaded_file_object_is_imported_and_named(store):
    upload = io.BytesIO((H + "u1,i1,view,100\n").encode())
    report = import_events(store, upload, name="shop.csv")
    assert (report.file_name, report.rows_loaded) == ("shop.csv", 1)
    assert store.rows("SELECT file_name FROM imports") == [("shop.csv",)]


def test_upload_over_the_limit_is_refused_before_anything_is_written(store):
    upload = io.BytesIO((H + "u1,i1,view,100\n" * 1000).encode())
    with pytest.raises(FileTooLargeError, match="over the limit"):
        import_events(store, upload, config=IngestConfig(max_file_bytes=5000), name="big.csv")
    assert store.value("SELECT count(*) FROM imports") == 0


def test_event_attributes_fill_the_catalogue_without_overwriting_it(store, tmp_path):
    import_items(store, write_csv(tmp_path / "items.csv", "item_id,title,brand\ni1,Red Shoe,Stride\n"))
    import_events(store, write_csv(tmp_path / "e.csv", "user_id,item_id,timestamp,brand,price,category_code\n"
                                   "u1,i1,100,Other,10,shoes.running\nu1,i2,100,Acme,$5.50,\nu1,i2,200,,6,cups\n"))
    assert store.rows("SELECT item_id, title, brand, price, category FROM items ORDER BY item_id") == [
        ("i1", "Red Shoe", "Stride", 10.0, "shoes.running"),
        ("i2", None, "Acme", 6.0, "cups"),
    ]


def test_reimported_catalogue_replaces_attributes_and_counts_unchanged_items_as_duplicates(store, tmp_path):
    import_items(store, write_csv(tmp_path / "a.csv", "item_id,title,price\ni1,Shoe,10\ni2,Mug,3\n"))
    report = import_items(store, write_csv(tmp_path / "b.csv", "item_id,title,price\ni1,Shoe,12\ni2,Mug,3\n"))
    assert (report.rows_loaded, report.rows_duplicate) == (1, 1)
    assert store.rows("SELECT item_id, price FROM items ORDER BY 1") == [("i1", 12.0), ("i2", 3.0)]


def test_unmapped_catalogue_columns_are_kept_as_json(store, tmp_path):
    import_items(store, write_csv(tmp_path / "a.csv", 'item_id,colour,"size ""EU"""\ni1,red,42\n'))
    assert store.rows("SELECT extra::VARCHAR FROM items") == [('{"colour":"red","size \\"EU\\"":"42"}',)]


def test_second_writer_gets_a_clear_lock_error(db_path):
    with Store(db_path):
        code = f"from igcore.store import Store\nStore({str(db_path)!r})"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        cli = subprocess.run([sys.executable, "-m", "igcore.cli", "stats", "--db", str(db_path)],
                             capture_output=True, text=True)
    assert f"{StoreLockedError.__name__}: the store {db_path} is in use by process" in out.stderr
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert cli.stderr.startswith(f"igcore: error: the store {db_path} is in use by process")
    assert len(cli.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.csv", "/tmp/x.csv", "..\\..\\win.csv", "c:\\x.csv"])
def test_upload_name_never_becomes_a_path(store, tmp_path, monkeypatch, name):
    """The name a user gives an upload is shown in the report and never used to build a path."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "spool"))
    (tmp_path / "spool").mkdir()
    seen: list[str] = []
    real = source_module.open_csv

    @contextlib.contextmanager
    def spy(*args, **kwargs):
        with real(*args, **kwargs) as csv_file:
            seen.append(str(csv_file.path))
            yield csv_file

    monkeypatch.setattr(runner_module, "open_csv", spy)
    report = import_events(store, io.BytesIO(b"user_id,item_id,timestamp\nu1,i1,100\n"), name=name)
    assert (report.file_name, report.rows_loaded) == (name, 1)
    assert len(seen) == 1 and Path(seen[0]).parent == tmp_path / "spool"
    # Only the fixed prefix, mkstemp's random letters and the fixed suffix: nothing of the user's name.
    assert re.fullmatch(r"igcore-upload-[a-z0-9_]+\.csv", Path(seen[0]).name)
    assert list(work.iterdir()) == [] and list((tmp_path / "spool").iterdir()) == []


def test_the_lookup_indexes_come_with_a_large_enough_log_and_lookups_read_the_same_rows(store, tmp_path):
    csv = write_csv(tmp_path / "e.csv", H + "".join(
        f"u{k % 7},i{k % 5},view,{1_700_000_000 + k}\n" for k in range(70)))
    import_events(store, csv)
    query = "SELECT event_id, item_id FROM events WHERE user_id = ? ORDER BY event_id"
    before = store.rows(query, ["u3"])
    assert not store.ensure_lookup_indexes(min_events=71)  # below the threshold: none
    assert store.ensure_lookup_indexes(min_events=70) and store.ensure_lookup_indexes(min_events=70)  # built, kept
    assert store.rows("SELECT table_name, expressions FROM duckdb_indexes() ORDER BY table_name") == [
        ("events", "[user_id]"), ("items", "[item_id]")]
    assert store.rows(query, ["u3"]) == before and len(before) == 10
    import_events(store, write_csv(tmp_path / "f.csv", H + "u3,i9,view,1800000000\n"))
    assert store.rows(query, ["u3"])[-1][1] == "i9"  # the index follows later imports
    titles = "SELECT item_id, title FROM items WHERE item_id IN ('i1', 'i2') ORDER BY item_id"
    import_items(store, write_csv(tmp_path / "a.csv", "item_id,title\ni1,Mug\ni2,Shoe\n"))
    import_items(store, write_csv(tmp_path / "b.csv", "item_id,title\ni2,Red Shoe\n"))  # a changed title
    assert store.rows(titles) == [("i1", "Mug"), ("i2", "Red Shoe")]
