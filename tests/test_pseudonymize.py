"""Pseudonymised ingest (igcore.privacy, igcore.pseudokey): planted raw ids never reach a table, a byte of the
store file, a checkpoint or an export; the key sits outside the store, mode 600; with it a raw id finds its
pseudonym, without it nothing maps back; old stores move their key out of ``meta``."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest

from igcore import privacy
from igcore.cli import main
from igcore.dashboard.explorer import find_users
from igcore.ingest import import_events
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.run import checkpoint_dir, train
from igcore.pseudokey import KEY_DIR_ENV, key_path, read_key
from igcore.store import Store, StoreKeyError
from tests.conftest import write_csv
from tests.test_app_live import CATALOGUE, T0, _csv_row
from tests.test_forget import text_columns

MARK = "RAWID-7Q2X"  # every planted id holds it, so one search finds any of them
ALICE, BOB, CAROL = f"{MARK}-alice@example.com", f"{MARK}-bob-0042", f"{MARK}-carol-ä"
MALLORY, TRENT = f"{MARK}-mallory-badtime", f"{MARK}-trent-extra-field"
HEADER = "user_id,item_id,event_type,timestamp\n"


def events_csv(folder: Path) -> Path:
    """Three users over the catalogue, a row refused for its time and a row with one field too many."""
    rows = [(u, item, "view", T0 + k * 3600 + i * 60) for i, u in enumerate((ALICE, BOB, CAROL))
            for k, item in enumerate(["A1", "B1", "A2", "C1"])]
    text = HEADER + "".join(_csv_row(r) + "\n" for r in rows)
    return write_csv(folder / "events.csv", text + f"{MALLORY},A1,view,not-a-time\n{TRENT},A1,view,{T0},x\n")


def hmac_pseudonym(key: str, raw: str) -> str:
    return "p-" + hmac.new(bytes.fromhex(key), raw.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def rows_with_mark(path: Path) -> dict[str, int]:
    with Store(path, read_only=True) as store:
        return {f"{t}.{c}": n for t, cols in text_columns(store).items() for c in cols
                if (n := store.value(f'SELECT count(*) FROM "{t}" WHERE "{c}"::VARCHAR LIKE ?', [f"%{MARK}%"]))}


def files_with(folder: Path, needle: bytes) -> list[str]:
    return sorted(str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file() and needle in f.read_bytes())


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """A store filled by ``igcore ingest --pseudonymize`` (catalogue, events, snapshots), with a small model."""
    folder = tmp_path_factory.mktemp("pseudo")
    db = folder / "store" / "shop.duckdb"
    db.parent.mkdir()
    items = write_csv(folder / "items.csv", "item_id,title,category,brand\n" + "".join(
        _csv_row(r) + "\n" for r in CATALOGUE))
    assert main(["ingest", str(events_csv(folder)), "--items", str(items), "--db", str(db), "--pseudonymize"]) == 0
    assert main(["snapshots", "--db", str(db), "--rebuild", "--set", "cadence=events:2"]) == 0
    with Store(db, read_only=True) as store:
        train(store, PipelineConfig(dim=16, max_len=10, epochs=1, batch_size=64, memory_dim=16, time_dim=4,
                                    device="cpu", use_text=False, use_graph=False, seed=0))
    return db


def test_raw_ids_reach_no_table_no_byte_no_checkpoint_and_no_export(shop, capsys):
    key = read_key(key_path(shop))
    expected = {raw: hmac_pseudonym(key, raw) for raw in (ALICE, BOB, CAROL, MALLORY)}
    assert rows_with_mark(shop) == {}
    with Store(shop, read_only=True) as store:
        stored = sorted(r[0] for r in store.rows("SELECT DISTINCT user_id FROM events"))
        snapshot_users = sorted(r[0] for r in store.rows("SELECT DISTINCT user_id FROM interest_snapshots"))
        quarantined = store.rows("SELECT line_no, raw_line, reason FROM quarantine ORDER BY line_no")
        meta = dict(store.rows("SELECT key, value FROM meta"))
    assert stored == snapshot_users == sorted(expected[u] for u in (ALICE, BOB, CAROL))
    assert quarantined == [
        (14, f"{expected[MALLORY]},A1,view,not-a-time", "unparseable timestamp: 'not-a-time'"),
        (15, None, "unreadable line: too many columns (its text is not kept: this store pseudonymises user ids)")]
    assert meta["pseudonymize"] == "hmac-sha256-128" and "pseudonym_key" not in meta
    model = json.loads((checkpoint_dir(shop) / "model.json").read_text())
    assert sorted(model["user_ids"]) == stored

    html = shop.parent / "alice.html"
    assert main(["interests", ALICE, "--db", str(shop), "--json", "--html", str(html)]) == 0  # typed raw
    assert json.loads(capsys.readouterr().out)["user_id"] == expected[ALICE]
    wal = shop.with_name(shop.name + ".wal")
    assert not wal.exists()  # closed: everything is in the file the byte search reads
    assert files_with(shop.parent.parent, MARK.encode()) == ["events.csv"]  # the upload itself, nothing else
    assert files_with(shop.parent, key.encode()) == [key_path(shop).name]  # the key only in its own file


def test_the_key_file_is_owner_only_beside_the_store_and_a_raw_id_finds_its_pseudonym(shop, tmp_path, monkeypatch):
    key = read_key(key_path(shop))
    assert key_path(shop) == shop.with_name("shop.duckdb.pseudonym.key")
    assert os.stat(key_path(shop)).st_mode & 0o777 == 0o600 and len(key) == 64
    found = find_users(shop, ALICE)
    assert found.values.tolist() == [[hmac_pseudonym(key, ALICE), hmac_pseudonym(key, ALICE)[:14], 4]]
    assert find_users(shop, MALLORY).empty  # quarantined: not a user of the store
    with Store(shop, read_only=True) as store:
        assert privacy.resolve_user(store, BOB) == hmac_pseudonym(key, BOB)
        assert privacy.resolve_user(store, hmac_pseudonym(key, BOB)) == hmac_pseudonym(key, BOB)

    elsewhere = tmp_path / "keys"  # the key moved away: nothing maps back, and nothing more is imported
    monkeypatch.setenv(KEY_DIR_ENV, str(elsewhere))
    assert find_users(shop, ALICE).empty
    with Store(shop) as store:
        assert privacy.resolve_user(store, ALICE) == ALICE
        with pytest.raises(StoreKeyError, match="pseudonymises user ids, but its key file .* is missing"):
            import_events(store, write_csv(tmp_path / "more.csv", HEADER + f"{ALICE},A1,view,{T0}\n"))
    elsewhere.mkdir()
    write_csv(key_path(shop), "ab" * 32 + "\n").chmod(0o600)  # some other key
    with Store(shop, read_only=True) as store, pytest.raises(StoreKeyError, match="is not the key this"):
        privacy.store_key(store)


def test_later_imports_pseudonymise_without_the_flag_and_agree_on_each_user(shop, tmp_path):
    key = read_key(key_path(shop))
    bob, unknown = hmac_pseudonym(key, BOB), "p-" + "0" * 32  # a stored user's pseudonym, and a made-up one
    later = write_csv(tmp_path / "later.csv", HEADER + f"{ALICE},B2,view,{T0 + 86400}\n{MARK}-dave,B2,view,{T0}\n"
                      f"{bob},B3,view,{T0 + 86400}\n{unknown},B3,view,{T0}\n")
    assert main(["ingest", str(later), "--db", str(shop)]) == 0
    with Store(shop, read_only=True) as store:
        counts = dict(store.rows("SELECT user_id, count(*) FROM events GROUP BY 1"))
    assert counts[hmac_pseudonym(key, ALICE)] == 5 and counts[hmac_pseudonym(key, f"{MARK}-dave")] == 1
    assert counts[bob] == 5 and counts[hmac_pseudonym(key, unknown)] == 1  # the Live page adds events so
    assert len(counts) == 5 and rows_with_mark(shop) == {}


def test_a_store_holding_raw_ids_cannot_start_pseudonymising(store, tmp_path, capsys):
    import_events(store, write_csv(tmp_path / "e.csv", HEADER + f"u1,A1,view,{T0}\n"))
    with pytest.raises(Exception, match="already holds raw user ids"):
        privacy.enable(store)
    store.close()
    assert main(["ingest", str(tmp_path / "e.csv"), "--db", str(store.path), "--pseudonymize"]) == 1
    assert capsys.readouterr().err.startswith("igcore: error: the store")


def test_an_old_store_moves_its_key_out_of_meta(db_path):
    legacy = "0f" * 16
    with Store(db_path) as store:
        store.con.execute("INSERT INTO meta VALUES ('pseudonym_key', ?)", [legacy])  # as stores kept it
    with Store(db_path, read_only=True) as store:
        assert privacy.store_key(store) == legacy  # a read-only open reads it where it is
    assert not key_path(db_path).exists()
    with Store(db_path) as store:
        assert store.value("SELECT count(*) FROM meta WHERE key = 'pseudonym_key'") == 0
        assert privacy.store_key(store) == legacy
        assert privacy.display_pseudonyms(store, ["u1"]) == [
            "p-" + hmac.new(bytes.fromhex(legacy), b"u1", hashlib.sha256).hexdigest()[:12]]
    assert read_key(key_path(db_path)) == legacy and key_path(db_path).stat().st_mode & 0o777 == 0o600


def test_a_key_file_others_can_read_is_refused(db_path):
    with Store(db_path) as store:
        key = privacy.store_key(store)  # drawn on first use for a store of raw ids
        key_path(db_path).chmod(0o644)
        with pytest.raises(StoreKeyError, match="can be read or changed by other users"):
            privacy.store_key(store)
    key_path(db_path).chmod(0o600)
    assert read_key(key_path(db_path)) == key


def test_the_sql_hmac_equals_pythons_for_any_text(store):
    key = "5a" * 32
    sql, params = privacy.pseudonym_sql("x", key)
    texts = ["u1", "ä-ß-漢字", "a" * 300, "'; DROP TABLE events; --"]
    got = store.rows(f"SELECT {sql} FROM (SELECT unnest(?::VARCHAR[]) AS x)", [*params, texts])
    assert [r[0] for r in got] == [hmac_pseudonym(key, t) for t in texts]
    assert store.rows(f"SELECT {sql} FROM (SELECT NULL::VARCHAR AS x)", params) == [(None,)]
