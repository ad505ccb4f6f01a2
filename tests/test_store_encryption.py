"""Encryption at rest: an encrypted store's bytes hide what was imported; no key or a wrong key fails with one
clear sentence; the key file must be the owner's only; locks, read-only opens and shared opens still work.

DuckDB writes encrypted files only with its httpfs extension's OpenSSL ciphers. Where httpfs is not installed
(this machine has no route to DuckDB's extension repository), writing tests run in DuckDB's fallback mode that
``IGCORE_TEST_UNSAFE_DUCKDB_CRYPTO`` allows: the same file format and key checks, with nonces from a
non-cryptographic generator. One test checks that without either, writing is refused with a clear sentence.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from igcore.cli import main
from igcore.errors import IgcoreError, StoreLockedError
from igcore.ingest import import_events
from igcore.store import KEY_ENV, KEY_FILE_ENV, UNSAFE_TEST_CRYPTO_ENV, Store, StoreKeyError, db_key

KEY = "correct-horse-battery-staple-42"
SECRET_USER = "shopper-7f3a9c-unique"


def _has_httpfs() -> bool:
    try:
        duckdb.connect().execute("LOAD httpfs")
        return True
    except duckdb.Error:
        return False


@pytest.fixture(autouse=True)
def _crypto(monkeypatch):
    for name in (KEY_ENV, KEY_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    if not _has_httpfs():
        monkeypatch.setenv(UNSAFE_TEST_CRYPTO_ENV, "1")


def _events(tmp_path: Path) -> Path:
    csv = tmp_path / "events.csv"
    csv.write_text("user_id,item_id,event_type,timestamp\n" + "".join(
        f"{SECRET_USER},item-{k},view,{1_700_000_000 + k}\n" for k in range(50)))
    return csv


def _file_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + ".wal")) if p.exists())


def test_encrypted_store_bytes_hold_no_imported_id_and_no_key(tmp_path):
    plain, secret = tmp_path / "plain.duckdb", tmp_path / "secret.duckdb"
    for path, key in ((plain, None), (secret, KEY)):
        with Store(path, key=key) as store:
            import_events(store, _events(tmp_path))
            assert store.value("SELECT count(*) FROM events WHERE user_id = ?", [SECRET_USER]) == 50
    assert SECRET_USER.encode() in _file_bytes(plain)  # the check can see an id where one is stored
    assert SECRET_USER.encode() not in _file_bytes(secret)
    assert KEY.encode() not in _file_bytes(secret)
    with Store(secret, key=KEY) as store:  # and it reads back
        assert store.stats().events == 50 and store.stats().users == 1


def test_the_key_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    db = tmp_path / "s.duckdb"
    with Store(db) as store:
        import_events(store, _events(tmp_path))
    assert SECRET_USER.encode() not in _file_bytes(db)
    with Store(db, read_only=True) as store:
        assert store.stats().events == 50


def test_no_key_or_a_wrong_key_fails_with_one_sentence(tmp_path, monkeypatch, capsys):
    db = tmp_path / "s.duckdb"
    with Store(db, key=KEY) as store:
        import_events(store, _events(tmp_path))
    for read_only in (False, True):
        with pytest.raises(StoreKeyError) as no_key:
            Store(db, read_only=read_only)
        assert str(no_key.value) == f"the store {db} is encrypted: give its key in IGCORE_DB_KEY or IGCORE_DB_KEY_FILE"
        with pytest.raises(StoreKeyError) as wrong:
            Store(db, read_only=read_only, key="another-key-of-enough-length")
        assert str(wrong.value) == \
            f"the key in IGCORE_DB_KEY / IGCORE_DB_KEY_FILE does not open the store {db} (wrong key)"
        assert isinstance(wrong.value, IgcoreError) and wrong.value.__cause__ is None
    assert main(["stats", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err == f"igcore: error: the store {db} is encrypted: give its key in IGCORE_DB_KEY or IGCORE_DB_KEY_FILE\n"
    monkeypatch.setenv(KEY_ENV, "another-key-of-enough-length")
    assert main(["stats", "--db", str(db)]) == 1
    assert "(wrong key)" in capsys.readouterr().err


def test_a_key_for_a_plain_store_is_refused(tmp_path):
    db = tmp_path / "plain.duckdb"
    Store(db).close()
    with pytest.raises(StoreKeyError, match="is not encrypted, but IGCORE_DB_KEY / IGCORE_DB_KEY_FILE is set"):
        Store(db, key=KEY)


def test_key_file_must_be_the_owners_only(tmp_path):
    key_file = tmp_path / "db.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    with pytest.raises(StoreKeyError) as exc:
        db_key({KEY_FILE_ENV: str(key_file)})
    assert str(exc.value) == (f"the key file {key_file} can be read or changed by other users (mode 644); "
                              f"make it yours only: chmod 600 {key_file}")
    key_file.chmod(0o600)
    assert db_key({KEY_FILE_ENV: str(key_file)}) == KEY
    key_file.chmod(0o400)
    assert db_key({KEY_FILE_ENV: str(key_file)}) == KEY
    with pytest.raises(StoreKeyError, match="cannot read the key file .*No such file"):
        db_key({KEY_FILE_ENV: str(tmp_path / "absent.key")})
    with pytest.raises(StoreKeyError, match="not a regular file"):
        db_key({KEY_FILE_ENV: str(tmp_path)})
    with pytest.raises(StoreKeyError, match="both IGCORE_DB_KEY and IGCORE_DB_KEY_FILE are set"):
        db_key({KEY_ENV: KEY, KEY_FILE_ENV: str(key_file)})
    with pytest.raises(StoreKeyError, match="at least 16 characters"):
        db_key({KEY_ENV: "short"})
    assert db_key({}) is None and db_key({KEY_ENV: ""}) is None


def test_a_key_with_quotes_is_passed_intact(tmp_path):
    key = "it's a key; DROP TABLE events; --'"
    db = tmp_path / "q.duckdb"
    with Store(db, key=key) as store:
        import_events(store, _events(tmp_path))
    with Store(db, read_only=True, key=key) as store:
        assert store.stats().events == 50
    with pytest.raises(StoreKeyError, match="wrong key"):
        Store(db, read_only=True, key=key + "x")


def test_nested_and_shared_opens_in_one_process(tmp_path):
    db = tmp_path / "s.duckdb"
    with Store(db, key=KEY) as outer:
        import_events(outer, _events(tmp_path))
        with Store(db, read_only=True, key=KEY) as inner:  # shares the attached file, sees the write
            assert inner.stats().events == 50
        assert outer.stats().events == 50  # closing the inner one left the outer one working
    with Store(db, read_only=True, key=KEY) as reader:
        with pytest.raises(StoreLockedError, match="open read-only in this process"):
            Store(db, key=KEY)
        assert reader.read_only
    Store.one_writer_per_process = True
    with Store(db, read_only=True, key=KEY) as shared:
        assert shared.stats().events == 50
    Store(db, key=KEY).close()  # every handle closed: the file opens afresh


def test_another_process_holding_an_encrypted_store_gets_the_lock_message(tmp_path):
    db = tmp_path / "s.duckdb"
    Store(db, key=KEY).close()
    env = {**os.environ, KEY_ENV: KEY}
    holder = subprocess.Popen([sys.executable, "-c", f"from igcore.store import Store; import time; "
                               f"s = Store({str(db)!r}); print('ok', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(StoreLockedError) as exc:
            Store(db, key=KEY)
        assert f"the store {db} is in use by process {holder.pid} (DuckDB allows one writer)" in str(exc.value)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.skipif(_has_httpfs(), reason="httpfs is installed here: writing encrypted stores works")
def test_without_httpfs_writing_is_refused_and_reading_works(tmp_path, monkeypatch):
    db = tmp_path / "s.duckdb"
    with Store(db, key=KEY) as store:
        import_events(store, _events(tmp_path))
    monkeypatch.delenv(UNSAFE_TEST_CRYPTO_ENV)
    with pytest.raises(StoreKeyError, match="needs DuckDB's httpfs extension"):
        Store(db, key=KEY)
    with Store(db, read_only=True, key=KEY) as store:
        assert store.stats().events == 50


def test_the_user_index_is_built_in_an_encrypted_store(tmp_path):
    with Store(tmp_path / "secret.duckdb", key=KEY) as store:
        import_events(store, _events(tmp_path))
        assert store.ensure_lookup_indexes(min_events=50)
        assert store.value("SELECT count(*) FROM events WHERE user_id = ?", [SECRET_USER]) == 50


def test_a_snapshot_build_on_an_encrypted_store_stages_no_readable_id_beside_it(tmp_path):
    from igcore.ingest import import_items
    from igcore.interests.snapshots import build_snapshots

    db, items, events = tmp_path / "store" / "secret.duckdb", tmp_path / "items.csv", tmp_path / "events.csv"
    items.write_text("item_id,title,category\n" + "".join(f"item-{k},Item {k},C{k % 3}\n" for k in range(50)))
    events.write_text("user_id,item_id,event_type,timestamp\n" + "".join(  # the secret user's chunk comes first
        f"{user},item-{k},view,{1_700_000_000 + k}\n" for user in (SECRET_USER, "z-other") for k in range(50)))
    seen = []

    def progress(stage, done, total, info):  # between chunks: the first one is staged by now
        if info.get("step") == "snapshots" and done == 1:
            seen.extend(p.read_bytes() for p in db.parent.rglob("*") if p.is_file())

    with Store(db, key=KEY) as store:
        import_items(store, items)
        import_events(store, events)
        report = build_snapshots(store, progress=progress, chunk_events=50)
        assert store.value("SELECT count(*) FROM interest_snapshots WHERE user_id = ?", [SECRET_USER]) > 0
    assert report.users == 2 and seen and not any(SECRET_USER.encode() in b for b in seen)
