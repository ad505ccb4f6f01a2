"""Forgetting a user (igcore.forget): a planted, distinctive id leaves every table, every byte of the store file
(and its WAL), the checkpoint folder and any leftover copy; other users' rows stay exactly as they were; the
audit row names no id; an unknown id changes nothing; the CLI and the explorer's button do the same."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from igcore.cli import main
from igcore.forget import _token, forget, plan_forget
from igcore.ingest import import_events, import_items
from igcore.interests.snapshots import build_snapshots
from igcore.pipeline.checkpoint import META
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.run import checkpoint_dir, load, recommend, train
from igcore.recommend.serving import SERVING
from igcore.store import KEY_ENV, UNSAFE_TEST_CRYPTO_ENV, Store, StoreKeyError
from tests.conftest import REPO, write_csv
from tests.test_app_live import CATALOGUE, SMALL, T0, _csv_row, three_users

ID = "forget-me-3f9a1c77e2b54d0a9c1e"
HEADER = "user_id,item_id,event_type,timestamp\n"
MINE = [(ID, item, "view", T0 + k * 3600 + 60) for k, item in enumerate(["A1", "B1", "A2", "C1", "B2", "C2"])]


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """Three users and the planted one (its own upload, named after it, with a quarantined row), snapshots and
    a small trained checkpoint."""
    folder = tmp_path_factory.mktemp("forget")
    path = folder / "shop.duckdb"
    rows = lambda events: "".join(_csv_row(e) + "\n" for e in events)  # noqa: E731
    with Store(path) as store:
        import_items(store, write_csv(folder / "items.csv", "item_id,title,category,brand\n" + rows(CATALOGUE)))
        import_events(store, write_csv(folder / "base.csv", HEADER + rows(three_users()) + "u2,B1,view,never\n"))
        mine = write_csv(folder / f"upload-{ID}.csv", HEADER + rows(MINE) + f"{ID},A3,view,not-a-time\n")
        assert import_events(store, mine).rows_quarantined == 1
        build_snapshots(store, SMALL)
    with Store(path, read_only=True) as store:
        train(store, PipelineConfig(dim=16, max_len=10, epochs=1, eval_every=1, batch_size=64, memory_dim=16,
                                    time_dim=4, device="cpu", dropout=0.1, use_text=False, seed=0))
    for f in folder.glob("*.csv"):
        f.unlink()  # the uploads are the caller's files, not the store's
    return path


@pytest.fixture
def store_copy(planted: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store" / planted.name
    path.parent.mkdir()
    shutil.copy(planted, path)
    shutil.copytree(checkpoint_dir(planted), checkpoint_dir(path))
    return path


def text_columns(store: Store) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for table, column in store.rows("SELECT table_name, column_name FROM information_schema.columns "
                                    "WHERE data_type IN ('VARCHAR', 'JSON', 'VARCHAR[]') ORDER BY ALL"):
        out.setdefault(table, []).append(column)
    return out


def rows_with_id(path: Path) -> dict[str, int]:
    """table.column -> rows whose text holds the id anywhere (every text column of every table)."""
    with Store(path, read_only=True) as store:
        return {f"{t}.{c}": n for t, cols in text_columns(store).items() for c in cols
                if (n := store.value(f'SELECT count(*) FROM "{t}" WHERE "{c}"::VARCHAR LIKE ?', [f"%{ID}%"]))}


def files_with_id(folder: Path) -> list[str]:
    return sorted(str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file()
                  and ID.encode() in f.read_bytes())


def others(path: Path) -> dict[str, pd.DataFrame]:
    """Every other user's rows of every per-user table, and the quarantine and catalogue, in a fixed order."""
    with Store(path, read_only=True) as store:
        tables = [t for t, cols in text_columns(store).items() if "user_id" in cols]
        out = {t: store.df(f'SELECT * FROM "{t}" WHERE user_id <> ? ORDER BY ALL', [ID]) for t in tables}
        for table in ("items", "interest_nodes", "interest_members"):
            out[table] = store.df(f"SELECT * FROM {table} ORDER BY ALL")
        out["quarantine"] = store.df("SELECT * FROM quarantine WHERE NOT contains(raw_line, ?) ORDER BY ALL", [ID])
    return out


def digest(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(folder.rglob("*")) if f.is_file()}


def test_a_forgotten_id_is_in_no_table_and_no_byte_and_the_others_stay(store_copy):
    folder = store_copy.parent
    assert {"events.user_id", "interest_snapshots.user_id", "quarantine.raw_line",
            "imports.file_name"} <= set(rows_with_id(store_copy))
    # the grep below sees the id where it is (deleted rows stay in the file's free blocks until it is compacted)
    assert files_with_id(folder) == ["models/shop/model.json", "shop.duckdb"]
    before = others(store_copy)
    with Store(store_copy, read_only=True) as store:
        plan = plan_forget(store, ID)
    assert plan.removed["events"] == len(MINE) and plan.removed["quarantine"] == 1
    assert plan.redacted["imports.file_name"] == 1

    report = forget(store_copy, ID, "analyst")
    text = "\n".join(report.lines())
    assert ID not in text and "until the next training" in text and "serving state rebuilt" in text
    assert report.compacted.startswith("the store file was rewritten")

    assert rows_with_id(store_copy) == {}
    assert files_with_id(folder) == []  # store, WAL, checkpoint, serving state and any leftover copy
    after = others(store_copy)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(after[table], frame, obj=table)
    with Store(store_copy, read_only=True) as store:
        log = store.df("SELECT * FROM forget_log")
        file_names = [r[0] for r in store.rows("SELECT file_name FROM imports ORDER BY import_id")]
        model, meta = load(store)
        top = recommend(store, "u1", 3)
    assert len(log) == 1 and ID not in log.astype(str).to_csv()
    assert log.at[0, "by_role"] == "analyst" and bool(log.at[0, "compacted"])
    assert json.loads(log.at[0, "rows_removed"])["events"] == len(MINE)
    assert file_names[-1] == "upload-[forgotten user].csv"
    assert meta["user_ids"] == ["u1", "u2", "u3"] and model.n_users == 3
    assert len(top) == 3 and (checkpoint_dir(store_copy) / SERVING).exists()


def test_an_unknown_user_changes_nothing(store_copy, capsys):
    before = digest(store_copy.parent)
    report = forget(store_copy, "nobody-at-all", "cli")
    assert report.lines() == ["no such user in the store: nothing to forget; the store is unchanged"]
    assert main(["forget", "u1x", "--db", str(store_copy)]) == 1
    assert "nothing to forget" in capsys.readouterr().err
    assert digest(store_copy.parent) == before


def test_the_cli_forgets_and_retrains(store_copy, capsys):
    assert main(["forget", ID, "--db", str(store_copy), "--retrain"]) == 0
    out = capsys.readouterr().out
    assert "weights: retrained: they no longer reflect this user" in out and ID not in out
    assert files_with_id(store_copy.parent) == []
    meta = json.loads((checkpoint_dir(store_copy) / META).read_text())
    assert meta["user_ids"] == ["u1", "u2", "u3"] and meta["events"] == len(three_users())


def test_the_explorer_button_forgets_after_the_confirmation(store_copy, monkeypatch):
    monkeypatch.setenv("IGCORE_DB", str(store_copy))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at.query_params["user"] = ID
    at.run()
    at.switch_page("pages/explorer.py").run()
    button = next(b for b in at.button if b.label == "Forget this user")
    assert button.disabled  # until the box is ticked
    next(c for c in at.checkbox if c.label.startswith("I understand")).check().run()
    next(b for b in at.button if b.label == "Forget this user").click().run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("removed ") for s in at.success)
    assert rows_with_id(store_copy) == {} and files_with_id(store_copy.parent) == []
    with Store(store_copy, read_only=True) as store:
        assert store.value("SELECT by_role FROM forget_log") == "analyst"


def test_an_encrypted_store_is_compacted_into_an_encrypted_file(tmp_path, monkeypatch):
    key = "forget-test-key-0123456789"
    monkeypatch.setenv(KEY_ENV, key)
    monkeypatch.setenv(UNSAFE_TEST_CRYPTO_ENV, "1")  # harmless where httpfs is installed: it is loaded first
    path = tmp_path / "secret.duckdb"
    with Store(path) as store:
        import_events(store, write_csv(tmp_path / "e.csv", HEADER + "".join(
            f"{u},A{k % 3},view,{T0 + k}\n" for u in (ID, "u1") for k in range(5))))
    (tmp_path / "e.csv").unlink()
    assert "removed 5 events" in forget(path, ID, "cli").store
    with Store(path) as store:
        assert store.rows("SELECT DISTINCT user_id FROM events") == [("u1",)]
        assert store.value("SELECT count(*) FROM forget_log WHERE compacted") == 1
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(StoreKeyError):
        Store(path, read_only=True)
    assert key.encode() not in path.read_bytes() and files_with_id(tmp_path) == []


def test_an_id_is_matched_as_a_whole_field_or_word():
    field, word = _token("u1", field=True), _token("u1", field=False)
    assert field.search("u1,A1,view,x") and field.search('"u1";A1') and field.search("x\tu1")
    assert not any(field.search(t) for t in ("u10,A1,view,x", "xu1,A1", "u1.5,A1", "u1-x,A1"))
    assert word.search("upload-u1.csv") and not word.search("upload-u10.csv")
