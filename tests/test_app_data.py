"""The Data page (upload, mapping, import, quarantine, past imports) under AppTest, and its igcore.dashboard.uploads
functions on real files, against small real stores."""

from __future__ import annotations

import gzip
import random
import re

import pytest
from streamlit.testing.v1 import AppTest

from igcore.config import IngestConfig
from igcore.dashboard import uploads
from igcore.dashboard.text import md_literal
from igcore.errors import FileTooLargeError, IngestError
from igcore.ingest import import_events, import_items
from igcore.interests.schema import read_state
from igcore.interests.snapshots import build_snapshots
from igcore.store import Store
from tests.conftest import REPO, write_csv

ITEMS = "item_id,title,category\ni1,Red Shoe,A\ni2,Blue Cup,B\ni3,Green Shoe,A\ni4,White Cup,B\n"
EVENTS = "user_id,item_id,event_type,timestamp\n" + "".join(
    f"u{u},i{(u + k) % 4 + 1},view,{1000 + 100 * u + k}\n" for u in (1, 2) for k in range(6))
TS_PROBLEM = ("No column is mapped to the required field ts (when: unix seconds or milliseconds, or ISO-8601 with "
              "or without zone): choose its column below, or add one to the file.")


def problem(field: str, help_text: str) -> str:
    return (f"No column is mapped to the required field {field} ({help_text}): choose its column below, or add one "
            "to the file.")


@pytest.fixture
def tiny_db(tmp_path, monkeypatch):
    """A store with a 4-item catalogue, 12 events of two users (imports 1 and 2) and their interest snapshots."""
    path = tmp_path / "app.duckdb"
    with Store(path) as store:
        import_items(store, write_csv(tmp_path / "items.csv", ITEMS))
        import_events(store, write_csv(tmp_path / "events.csv", EVENTS))
        build_snapshots(store)
    monkeypatch.setenv("IGCORE_DB", str(path))
    return path


def data_page() -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    return at


def choose(at: AppTest, kind: str) -> AppTest:
    """Select the file kind; only its section is drawn."""
    if at.segmented_control(key="data_kind").value != kind:
        at.segmented_control(key="data_kind").set_value(kind).run()
    return at


def upload(at: AppTest, kind: str, name: str, data: bytes) -> AppTest:
    choose(at, kind).file_uploader(key=f"upload_{kind}").set_value((name, data, "text/csv"))
    at.run()
    assert not at.exception
    return at


def mapping(at: AppTest) -> dict[str, str]:
    return {box.label: box.value for box in at.selectbox}


def select(at: AppTest, label: str, field: str) -> None:
    next(box for box in at.selectbox if box.label == label).set_value(field)


def frame_with(at: AppTest, column: str):
    """The (first) dataframe on the page that has ``column``."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def markdown_texts(at: AppTest) -> list[str]:
    """Everything on the page rendered as markdown (where HTML or markdown in untrusted text could act)."""
    kinds = (at.markdown, at.caption, at.error, at.warning, at.info, at.success, at.title, at.subheader)
    return [el.value for kind in kinds for el in kind] + [box.label for box in at.selectbox]


def test_data_page_shows_uploaders_and_past_imports(tiny_db):
    at = data_page()
    kinds = at.segmented_control(key="data_kind")
    assert (kinds.options, kinds.value) == (["Events", "Items"], "events")
    assert [u.label for u in at.file_uploader] == ["Events CSV (who did what, when)"]  # the chosen kind's only
    items = choose(at, "items").file_uploader
    assert [u.label for u in items] == ["Items CSV (the catalogue: titles, categories, ...)"]
    assert [s.value for s in at.subheader] == ["Past imports"]
    assert len(at.button) == 0  # nothing to import before an upload
    imports = frame_with(at, "rows_loaded")
    assert imports[["import_id", "kind", "rows_loaded"]].values.tolist() == [[1, "items", 4], [2, "events", 12]]
    assert imports.columns[:6].tolist() == ["import_id", "kind", "file_name", "rows_loaded", "rows_quarantined",
                                            "rows_duplicate"]  # the counts beside the file name, not off-screen
    assert len(imports["sha256"].iloc[0]) == 64  # whole here (the Home summary cuts it)


def test_the_chosen_kind_stays_across_the_uploads_rerun(tiny_db):
    at = upload(data_page(), "items", "more-items.csv", b"item_id,title\ni7,Seven\n")
    assert at.segmented_control(key="data_kind").value == "items"  # an upload's rerun keeps the choice
    at.button(key="import_items").click().run()
    assert at.segmented_control(key="data_kind").value == "items"
    assert at.success[0].value.startswith("Import 3 (items): ok")


def test_preview_shows_first_rows_and_detected_mapping(tiny_db):
    rows = "".join(f"v{k},i{k % 4 + 1},view,{5000 + k}\n" for k in range(25))
    at = upload(data_page(), "events", "shop.csv", ("visitorid,itemid,event,timestamp\n" + rows).encode())
    assert mapping(at) == {"visitorid": "user_id", "itemid": "item_id", "event": "event_type", "timestamp": "ts"}
    preview = frame_with(at, "visitorid")
    assert len(preview) == 20
    assert preview.iloc[0].tolist() == ["v0", "i1", "view", "5000"]
    assert [c.value for c in at.caption][1] == "The first 20 rows as read"
    assert not at.error
    assert not at.button(key="import_events").disabled


def test_corrected_mapping_imports_exactly_its_rows_and_updates_snapshots(tiny_db):
    rows = "".join(f"u9,i{k % 4 + 1},{7000 + k},n{k}\n" for k in range(5))
    at = upload(data_page(), "events", "renamed.csv", ("person,sku,stamp,note\n" + rows).encode())
    assert mapping(at) == {"person": "-", "sku": "item_id", "stamp": "-", "note": "-"}
    assert [e.value for e in at.error] == [md_literal(problem("user_id", "who acted")), md_literal(
        TS_PROBLEM)]
    assert at.button(key="import_events").disabled

    select(at, "person", "user_id")
    select(at, "stamp", "ts")
    at.run()
    assert not at.error and not at.button(key="import_events").disabled
    at.button(key="import_events").click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric} == {"Rows read": "5", "Loaded": "5", "Quarantined": "0",
                                                     "Duplicate": "0"}
    assert at.success[0].value.startswith("Import 3 (events): ok")
    assert at.success[1].value.startswith("Interest snapshots updated: 2 snapshots of 1 users written (5 events")
    with Store(tiny_db, read_only=True) as store:
        assert store.rows("SELECT user_id, item_id, event_type, epoch(ts)::INT FROM events WHERE import_id = 3 "
                          "ORDER BY event_id") == [("u9", f"i{k % 4 + 1}", "interaction", 7000 + k) for k in range(5)]
        assert store.value("SELECT count(*) FROM interest_snapshots WHERE user_id = 'u9'") == 2
        assert read_state(store)["last_event_id"] == "17"
    assert frame_with(at, "rows_loaded")["import_id"].tolist() == [1, 2, 3]


def test_quarantined_rows_shown_with_reasons_and_second_import_says_already_imported(tiny_db):
    data = b'visitorid,itemid,event,timestamp\nu5,i1,view,never\nu5,,view,100\nu5,i2,view,200\n"u6,i3\n'
    at = upload(data_page(), "events", "quarantine.csv", data)
    at.button(key="import_events").click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric} == {"Rows read": "4", "Loaded": "1", "Quarantined": "3",
                                                     "Duplicate": "0"}
    assert frame_with(at, "rows").values.tolist() == [["empty item_id", 1], ["unparseable timestamp", 1],
                                                      ["unreadable line", 1]]
    quarantined = frame_with(at, "raw_line")
    assert quarantined["line_no"].tolist() == [2, 3, 5]
    assert quarantined["reason"].tolist() == [
        "unparseable timestamp: 'never'", "empty item_id: the column is blank",
        "unreadable line: unquoted value (Value with unterminated quote found.)"]
    assert quarantined["raw_line"].tolist()[:2] == ["u5,i1,view,never", "u5,,view,100"]

    at.button(key="import_events").click().run()
    assert not at.exception
    assert [i.value for i in at.info] == [md_literal(
        "quarantine.csv: already imported as import 3; nothing changed")]
    assert frame_with(at, "rows_loaded")["import_id"].tolist() == [1, 2, 3]


def test_file_without_a_time_column_is_refused_clearly(tiny_db):
    at = upload(data_page(), "events", "no_time.csv", b"user,item\nu1,i1\nu2,i2\n")
    assert mapping(at) == {"user": "user_id", "item": "item_id"}
    assert [e.value for e in at.error] == [md_literal(TS_PROBLEM)]
    assert at.button(key="import_events").disabled
    with Store(tiny_db, read_only=True) as store:
        assert store.value("SELECT count(*) FROM imports") == 2


def test_script_in_ids_titles_and_column_names_stays_plain_text(tiny_db):
    at = upload(data_page(), "events", "<b>x</b>.csv",
                b"user_id,item_id,timestamp,<img src=x onerror=alert(1)>\n<script>alert(1)</script>,i1,100,a\n")
    assert frame_with(at, "user_id").iloc[0].tolist() == ["<script>alert(1)</script>", "i1", "100", "a"]
    at.button(key="import_events").click().run()
    texts = markdown_texts(at)
    assert md_literal("<img src=x onerror=alert(1)>") in texts  # the column's selectbox label
    at = upload(at, "items", "items2.csv", b'item_id,title\ni9,"<img src=x onerror=alert(2)> ""quoted"""\n')
    assert frame_with(at, "title").iloc[0].tolist() == ["i9", '<img src=x onerror=alert(2)> "quoted"']
    texts += markdown_texts(at)
    assert not [t for t in texts if re.search(r"(?<!\\)<", t)]  # no unescaped "<" in any markdown
    with Store(tiny_db, read_only=True) as store:
        assert store.value("SELECT user_id FROM events WHERE import_id = 3") == "<script>alert(1)</script>"
    assert "<b>x</b>.csv" in frame_with(at, "rows_loaded")["file_name"].tolist()


def test_snapshots_that_cannot_be_built_show_a_warning_after_the_import(tmp_path, monkeypatch):
    path = tmp_path / "app.duckdb"
    with Store(path) as store:  # events but no catalogue: no interests can be formed
        import_events(store, write_csv(tmp_path / "events.csv", EVENTS))
    monkeypatch.setenv("IGCORE_DB", str(path))
    at = upload(data_page(), "events", "more.csv", b"user,item,ts\nu7,i1,9000\n")
    at.button(key="import_events").click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Loaded"] == "1"
    assert [w.value for w in at.warning] == [md_literal(
        "Interest snapshots not updated: source=cluster: no item has a vector (no catalogue text or attributes, "
        "and no model)")]


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("empty.csv", b"", ["empty.csv is empty: no header and no rows"]),
    ("broken.csv.gz", b"\x1f\x8b" + bytes(range(60)), None),
])
def test_unreadable_uploads_show_the_importers_message(tiny_db, name, data, expected):
    at = upload(data_page(), "events", name, data)
    errors = [e.value for e in at.error]
    if expected is not None:
        assert errors == [md_literal(m) for m in expected]
    else:
        assert len(errors) == 1 and "cannot be decompressed" in errors[0]
    assert len(at.button) == 0 and len(at.selectbox) == 0


@pytest.mark.parametrize("name", ["junk.csv", "picture.csv", "data.txt"])
def test_binary_junk_and_non_csv_content_is_refused_without_a_trace(tiny_db, name):
    data = {"junk.csv": random.Random(0).randbytes(3000),
            "picture.csv": b"\x89PNG\r\n\x1a\n" + random.Random(1).randbytes(500),
            "data.txt": b'{"a": [1, 2, 3], "b": {"c": "d"}}\n'}[name]
    at = upload(data_page(), "events", name, data)
    assert [e.value for e in at.error] == [md_literal(m) for m in (
        problem("user_id", "who acted"), problem("item_id", "what was acted on"), TS_PROBLEM)]
    assert at.button(key="import_events").disabled


@pytest.mark.parametrize("name", ["junk.bin", "picture.png", "data.json", "csv"])
def test_files_not_named_as_csv_are_refused_with_a_message(tiny_db, name):
    at = upload(data_page(), "events", name, b"user_id,item_id,ts\nu1,i1,100\n")
    assert [e.value for e in at.error] == [md_literal(
        f"{name} is not a CSV file: upload a .csv, .tsv, .txt or .gz (compressed) file")]
    assert len(at.button) == 0
    with pytest.raises(IngestError, match="is not a CSV file"):
        uploads.import_upload(tiny_db, b"user_id,item_id,ts\nu1,i1,100\n", name, "events")


# --- the functions behind the page, on real files ---


def test_detect_mapping_and_problems():
    assert uploads.detect_mapping(["visitorid", "itemid", "event", "timestamp"], "events") == {
        "visitorid": "user_id", "itemid": "item_id", "event": "event_type", "timestamp": "ts"}
    assert uploads.detect_mapping(["SKU", "Product Name", "Brand", "misc"], "items") == {
        "SKU": "item_id", "Product Name": "title", "Brand": "brand", "misc": "-"}
    assert uploads.mapping_problems({"a": "user_id", "b": "user_id", "c": "item_id", "d": "ts"}, "events") == [
        "The field user_id is chosen for 2 columns (a, b): keep one."]
    assert uploads.mapping_problems({"a": "-"}, "items") == [problem("item_id", "the item's id, as in the events")]
    assert uploads.field_choices("items") == ["-", "item_id", "title", "category", "brand", "price", "description"]


def test_size_limit_refuses_before_reading():
    with pytest.raises(FileTooLargeError) as err:
        uploads.check_size(3_000_000, "big.csv", IngestConfig(max_file_bytes=1_000_000))
    assert str(err.value) == ("big.csv is 3.0 MB, over the limit of 1.0 MB (setting max_file_bytes); import it "
                              "with `igcore ingest` after raising the limit, or split it")
    data = b"user_id,item_id,ts\n" + b"u1,i1,100\n" * 200
    with pytest.raises(FileTooLargeError):
        uploads.preview_upload(data, "big.csv", "events", IngestConfig(max_file_bytes=1000))
    uploads.check_size(1_000_000, "ok.csv", IngestConfig(max_file_bytes=1_000_000))


def test_preview_reads_gzip_semicolons_and_ragged_rows(tmp_path):
    path = tmp_path / "e.csv.gz"
    path.write_bytes(gzip.compress(b"user;item;ts\nu1;i1;100\nu2;i2\n"))
    preview = uploads.preview_upload(path.read_bytes(), "e.csv.gz", "events")
    assert preview.header == ["user", "item", "ts"]
    assert preview.rows.values.tolist() == [["u1", "i1", "100"], ["u2", "i2", ""]]
    assert preview.notes == ["some rows have a different number of fields than the header; the import "
                             "quarantines them"]
    with pytest.raises(IngestError, match="first line is blank"):
        uploads.preview_upload(b"\n\nu1,i1,100\n", "blank.csv", "events")


def test_import_upload_refreshes_snapshots_on_a_real_store(tmp_path):
    db = tmp_path / "s.duckdb"
    items = write_csv(tmp_path / "items.csv", ITEMS).read_bytes()
    first = uploads.import_upload(db, items, "items.csv", "items")
    assert first.report.rows_loaded == 4 and first.after.snapshots == "none: the store holds no events yet"
    data = write_csv(tmp_path / "e.csv", "who,what,when\n" + "".join(
        f"u1,i{k % 4 + 1},{100 + k}\n" for k in range(5)) + "u2,i1,soon\n").read_bytes()
    outcome = uploads.import_upload(db, data, "e.csv", "events", {"who": "user_id", "what": "item_id", "when": "ts"})
    report = outcome.report
    assert (report.import_id, report.rows_read, report.rows_loaded, report.rows_quarantined) == (2, 6, 5, 1)
    assert outcome.quarantined[["line_no", "reason"]].values.tolist() == [[7, "unparseable timestamp: 'soon'"]]
    assert outcome.reasons().values.tolist() == [["unparseable timestamp", 1]]
    assert outcome.after.snapshots.startswith("built: 2 snapshots of 1 users written (5 ev")
    assert outcome.after.model == "no trained model: recommendations come from the evidence scorer"
    again = uploads.import_upload(db, data, "e-copy.csv", "events", {"who": "user_id", "what": "item_id",
                                                                     "when": "ts"})
    assert again.already_imported and again.quarantined.empty
    assert again.after.snapshots == "up to date: no events since the last build or update"
    more = "who,what,when\n" + "".join(f"u3,i{k % 4 + 1},{300 + k}\n" for k in range(5))
    later = uploads.import_upload(db, more.encode(), "more.csv", "events",
                                  {"who": "user_id", "what": "item_id", "when": "ts"})
    assert later.after.snapshots.startswith("updated: 2 snapshots of 1 users written (5")
    assert later.after.touched_users == ["u3"]
    with Store(db, read_only=True) as store:
        assert store.rows("SELECT user_id, count(*) FROM interest_snapshots GROUP BY 1 ORDER BY 1") == [
            ("u1", 2), ("u3", 2)]


def test_md_literal_escapes_markdown_and_html():  # igcore.dashboard.text, used by every page
    assert md_literal("<script>a_b</script> [x](y) $1") == \
        r"\<script\>a\_b\<\/script\> \[x\]\(y\) \$1"


def test_the_quarantine_download_neutralises_formulas(tmp_path):
    db = tmp_path / "s.duckdb"
    data = b"user_id,item_id,ts\n=1+2,@i1,soon\nu1,i1,100\n"
    outcome = uploads.import_upload(db, data, "bad.csv", "events")
    assert outcome.report.rows_quarantined == 1
    lines = outcome.quarantine_csv().decode().splitlines()
    assert lines[0].startswith("import_id,line_no,raw_line,reason")
    assert lines[1] == "1,2,\"'=1+2,@i1,soon\",unparseable timestamp: 'soon'"
