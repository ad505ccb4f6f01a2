"""Every case of the malformed-input corpus (tests/corpus, built by build.py) with exact accounting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from igcore.config import IngestConfig, with_overrides
from igcore.errors import IngestError
from igcore.ingest import import_events, import_items

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_corpus_is_large_enough():
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name, store):
    exp = EXPECTED[name]
    importer = import_items if exp.get("kind") == "items" else import_events
    config = with_overrides(IngestConfig(), exp.get("config", {}))
    before = store.rows("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM items), "
                        "(SELECT count(*) FROM imports), (SELECT count(*) FROM quarantine)")
    if "error" in exp:
        with pytest.raises(IngestError, match=None) as info:
            importer(store, CORPUS / name, config=config)
        assert exp["error"] in str(info.value)
        after = store.rows("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM items), "
                           "(SELECT count(*) FROM imports), (SELECT count(*) FROM quarantine)")
        assert after == before, "a refused file must write nothing"
        return
    report = importer(store, CORPUS / name, config=config)
    got = (report.rows_read, report.rows_loaded, report.rows_quarantined, report.rows_duplicate)
    assert got == (exp["read"], exp["loaded"], exp["quarantined"], exp["duplicate"])
    assert report.balanced
    assert report.status == exp.get("status", "ok")
    quarantine = store.rows("SELECT line_no, reason, raw_line FROM quarantine WHERE import_id = ? ORDER BY line_no",
                            [report.import_id])
    assert len(quarantine) == exp["quarantined"]
    for (line, reason, raw), (want_line, want_reason) in zip(quarantine, exp.get("quarantine", [])):
        assert (line, reason[: len(want_reason)]) == (want_line, want_reason)
        assert raw, "a quarantined row keeps its text"
    for note in exp.get("notes", []):
        assert any(note in n for n in report.notes), report.notes
    assert report.unknown_event_types == exp.get("unknown", {})
    if "events" in exp:
        rows = store.rows("SELECT user_id, item_id, event_type, strftime(ts, '%Y-%m-%dT%H:%M:%S.%f') FROM events "
                          "ORDER BY event_id")
        want = [(u, i, t, ts if "." in ts else ts + ".000000") for u, i, t, ts in exp["events"]]
        assert rows == want
    recorded = store.rows("SELECT rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM imports "
                          "WHERE import_id = ?", [report.import_id])
    assert recorded == [got]


def test_raw_line_of_refused_row_is_the_record(store):
    report = import_events(store, CORPUS / "quoted_newlines.csv")
    assert store.rows("SELECT raw_line FROM quarantine WHERE import_id = ?", [report.import_id]) == [
        ("u3,i3,view,nope",)]


def test_unterminated_quote_keeps_the_rest_of_the_file_in_quarantine(store):
    import_events(store, CORPUS / "unterminated_quote.csv")
    (raw,) = store.rows("SELECT raw_line FROM quarantine")[0]
    assert "u3,i3,view,300" in raw
