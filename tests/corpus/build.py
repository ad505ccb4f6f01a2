"""Writes the malformed-input corpus and its hand-written expectations (expected.json).

Run ``python tests/corpus/build.py`` after changing a case; the files are committed so the bytes a test reads
are visible in review. Every expectation below was worked out by hand from the file's text.
Expectation keys: kind (events|items), config (IngestConfig overrides), read/loaded/quarantined/duplicate,
quarantine ([line_no, reason prefix] in line order), error (substring of the refusal message), notes
(substrings expected among the report's notes), unknown (unknown event types and counts), events (exact
(user_id, item_id, event_type, ts ISO) rows loaded, in event_id order).
"""

from __future__ import annotations

import codecs
import gzip
import json
from pathlib import Path

HERE = Path(__file__).parent
H = "user_id,item_id,event_type,timestamp\n"

CASES: dict[str, tuple[bytes, dict]] = {
    "bad_encoding_line.csv": (
        (H + "josé,1,view,100\n").encode() + b"u2,2,view,\xff\xfe200\n" + "u3,é3,buy,300\n".encode(),
        {"read": 3, "loaded": 2, "quarantined": 1, "duplicate": 0,
         "quarantine": [[3, "unreadable line: invalid encoding"]]}),
    "latin1_whole_file.csv": (
        (H + "josé,1,view,100\nu2,crème,view,200\n").encode("latin-1"),
        {"read": 2, "loaded": 2, "quarantined": 0, "duplicate": 0, "notes": ["read as Latin-1"],
         "events": [["josé", "1", "view", "1970-01-01T00:01:40"], ["u2", "crème", "view", "1970-01-01T00:03:20"]]}),
    "semicolon.csv": (
        b"user_id;item_id;event_type;timestamp\nu1;i1;pv;100\nu2;i2;buy;200\n",
        {"read": 2, "loaded": 2, "quarantined": 0, "duplicate": 0,
         "events": [["u1", "i1", "view", "1970-01-01T00:01:40"], ["u2", "i2", "purchase", "1970-01-01T00:03:20"]]}),
    "tab.tsv": (
        b"visitorid\titemid\tevent\ttimestamp\nu1\ti1\taddtocart\t1433221332117\n",
        {"read": 1, "loaded": 1, "quarantined": 0, "duplicate": 0,
         "events": [["u1", "i1", "cart", "2015-06-02T05:02:12.117000"]]}),
    "pipe.csv": (
        b"customer_id|sku|action|event_time\nc1|s1|fav|2020-01-02T03:04:05Z\n",
        {"read": 1, "loaded": 1, "quarantined": 0, "duplicate": 0,
         "events": [["c1", "s1", "wishlist", "2020-01-02T03:04:05"]]}),
    "missing_required.csv": (
        b"who,what,when_it_was\nu1,i1,100\n",
        {"error": "Columns found: who, what, when_it_was"}),
    "unparseable_ts.csv": (
        (H + "u1,i1,view,100\nu2,i2,view,yesterday\nu3,i3,view,\nu4,i4,view,2020-13-45\nu5,i5,view,1e20\n").encode(),
        {"read": 5, "loaded": 1, "quarantined": 4, "duplicate": 0,
         "quarantine": [[3, "unparseable timestamp: 'yesterday'"], [4, "empty timestamp"],
                        [5, "unparseable timestamp: '2020-13-45'"], [6, "unparseable timestamp: '1e20'"]]}),
    "empty_ids.csv": (
        (H + ",i1,view,100\nu2,,view,100\n  ,i3,view,100\nu4,i4,view,100\n").encode(),
        {"read": 4, "loaded": 1, "quarantined": 3, "duplicate": 0,
         "quarantine": [[2, "empty user_id"], [3, "empty item_id"], [4, "empty user_id"]]}),
    "duplicates.csv": (
        (H + "u1,i1,view,100\nu1,i1,view,100\nu2,i2,cart,200\nu1,i1,view,100\nu2,i2,cart,200\n"
             "u2,i2,add_to_cart,200\nu2,i2,cart,201\n").encode(),
        {"read": 7, "loaded": 3, "quarantined": 0, "duplicate": 4,
         "events": [["u1", "i1", "view", "1970-01-01T00:01:40"], ["u2", "i2", "cart", "1970-01-01T00:03:20"],
                    ["u2", "i2", "cart", "1970-01-01T00:03:21"]]}),
    "oversize.csv": (
        (H + "u1,i1,view,100\n" * 20).encode(),
        {"config": {"max_file_bytes": 200}, "error": "over the limit of"}),
    "header_only.csv": (
        H.encode(),
        {"read": 0, "loaded": 0, "quarantined": 0, "duplicate": 0, "status": "empty"}),
    "empty.csv": (b"", {"error": "is empty"}),
    "blank_first_line.csv": (b"\n" + H.encode() + b"u1,i1,view,100\n", {"error": "first line is blank"}),
    "bom.csv": (
        codecs.BOM_UTF8 + (H + "u1,i1,view,100\n").encode(),
        {"read": 1, "loaded": 1, "quarantined": 0, "duplicate": 0,
         "events": [["u1", "i1", "view", "1970-01-01T00:01:40"]]}),
    "quoted_newlines.csv": (
        (H + 'u1,"item\nwith newline",view,100\n"u2","i2","view","200"\nu3,i3,view,nope\n').encode(),
        {"read": 3, "loaded": 2, "quarantined": 1, "duplicate": 0,
         "quarantine": [[4, "unparseable timestamp: 'nope'"]],
         "events": [["u1", "item\nwith newline", "view", "1970-01-01T00:01:40"],
                    ["u2", "i2", "view", "1970-01-01T00:03:20"]]}),
    "mixed_types_value.csv": (
        b"user_id,item_id,timestamp,rating\nu1,i1,100,5\nu2,i2,100,\nu3,i3,100,abc\nu4,i4,100,4.5\n",
        {"read": 4, "loaded": 3, "quarantined": 1, "duplicate": 0,
         "quarantine": [[4, "value is not a number: 'abc'"]]}),
    "long_id.csv": (
        (H + "u" * 300 + ",i1,view,100\nu2,i2,view,100\n").encode(),
        {"read": 2, "loaded": 1, "quarantined": 1, "duplicate": 0,
         "quarantine": [[2, "id too long: user_id has 300 characters"]]}),
    "long_line.csv": (
        (H + "u1,i1,view,100\nu2," + "x" * 2000 + ",view,100\nu3,i3,view,100\n").encode(),
        {"config": {"max_line_bytes": 1000}, "read": 3, "loaded": 2, "quarantined": 1, "duplicate": 0,
         "quarantine": [[3, "unreadable line: line size over maximum"]]}),
    "too_many_fields.csv": (
        (H + "u1,i1,view,100,extra\nu2,i2,view,100\n").encode(),
        {"read": 2, "loaded": 1, "quarantined": 1, "duplicate": 0,
         "quarantine": [[2, "unreadable line: too many columns"]]}),
    "too_few_fields.csv": (
        (H + "u1,i1\nu2,i2,view,100\nu3\n").encode(),
        {"read": 3, "loaded": 1, "quarantined": 2, "duplicate": 0,
         "quarantine": [[2, "unreadable line: missing columns"], [4, "unreadable line: missing columns"]]}),
    "unknown_event_types.csv": (
        (H + "u1,i1,zoom,100\nu2,i2,ZOOM,100\nu3,i3,share,100\nu4,i4,pv,100\nu5,i5,,100\n").encode(),
        {"read": 5, "loaded": 5, "quarantined": 0, "duplicate": 0, "unknown": {"zoom": 2, "share": 1},
         "events": [["u1", "i1", "zoom", "1970-01-01T00:01:40"], ["u2", "i2", "zoom", "1970-01-01T00:01:40"],
                    ["u3", "i3", "share", "1970-01-01T00:01:40"], ["u4", "i4", "view", "1970-01-01T00:01:40"],
                    ["u5", "i5", "interaction", "1970-01-01T00:01:40"]]}),
    "no_event_type.csv": (
        b"user_id,item_id,timestamp\nu1,i1,100\n",
        {"config": {"default_event_type": "review"}, "read": 1, "loaded": 1, "quarantined": 0, "duplicate": 0,
         "events": [["u1", "i1", "review", "1970-01-01T00:01:40"]]}),
    "iso_zones.csv": (
        (H + "u1,i1,view,2019-10-01 00:00:00 UTC\nu2,i2,view,2019-10-01T02:00:00+02:00\n"
             "u3,i3,view,2019-10-01T00:00:00\nu4,i4,view,2019-10-01\nu5,i5,view,2019-09-30T19:30:00-04:30\n").encode(),
        {"read": 5, "loaded": 5, "quarantined": 0, "duplicate": 0,
         "events": [[f"u{i}", f"i{i}", "view", "2019-10-01T00:00:00"] for i in range(1, 6)]}),
    "epoch_units.csv": (
        (H + "u1,i1,view,1511544070\nu2,i2,view,1511544070123\nu3,i3,view,1511544070123456\n"
             "u4,i4,view,1511544070.5\n").encode(),
        {"read": 4, "loaded": 4, "quarantined": 0, "duplicate": 0,
         "events": [["u1", "i1", "view", "2017-11-24T17:21:10"], ["u2", "i2", "view", "2017-11-24T17:21:10.123000"],
                    ["u3", "i3", "view", "2017-11-24T17:21:10.123456"],
                    ["u4", "i4", "view", "2017-11-24T17:21:10.500000"]]}),
    "utf16.csv": (
        (H + "zoë,i1,view,100\n").encode("utf-16"),
        {"read": 1, "loaded": 1, "quarantined": 0, "duplicate": 0,
         "events": [["zoë", "i1", "view", "1970-01-01T00:01:40"]]}),
    "crlf.csv": (
        (H + "u1,i1,view,100\nu2,i2,view,x\n").replace("\n", "\r\n").encode(),
        {"read": 2, "loaded": 1, "quarantined": 1, "duplicate": 0, "quarantine": [[3, "unparseable timestamp: 'x'"]]}),
    "unterminated_quote.csv": (
        (H + 'u1,i1,view,100\nu2,"i2,view,200\nu3,i3,view,300\n').encode(),
        # The parser cannot tell where the broken field ends: the rest of the file is one quarantined record,
        # its text kept whole in raw_line.
        {"read": 2, "loaded": 1, "quarantined": 1, "duplicate": 0,
         "quarantine": [[3, "unreadable line: unquoted value"]]}),
    "padded_values.csv": (
        (H + "  u1 , i1 ,  View , 100 \n").encode(),
        {"read": 1, "loaded": 1, "quarantined": 0, "duplicate": 0,
         "events": [["u1", "i1", "view", "1970-01-01T00:01:40"]]}),
    "duplicate_header.csv": (
        b"user_id,item_id,timestamp,timestamp\nu1,i1,100,200\n",
        {"read": 1, "loaded": 1, "quarantined": 0, "duplicate": 0, "notes": ["'timestamp_2'"],
         "events": [["u1", "i1", "interaction", "1970-01-01T00:01:40"]]}),
    "gzipped.csv.gz": (
        gzip.compress((H + "u1,i1,view,100\n").encode(), mtime=0),
        {"read": 1, "loaded": 1, "quarantined": 0, "duplicate": 0,
         "events": [["u1", "i1", "view", "1970-01-01T00:01:40"]]}),
    "items_conflicts.csv": (
        b"sku,name,price,colour\nA,Red Shoe,12.50,red\nA,Red Shoe,12.50,red\nB,Mug,abc,blue\nC,Cup,$3,\n"
        b"C,Cup v2,3,\n,No id,1,\n",
        {"kind": "items", "read": 6, "loaded": 2, "quarantined": 3, "duplicate": 1,
         "quarantine": [[4, "price is not a number: 'abc'"], [6, "conflicting item: C appears earlier"],
                        [7, "empty item_id"]]}),
    "items_missing_id.csv": (
        b"name,price\nShoe,1\n",
        {"kind": "items", "error": "required fields item_id"}),
}


def main() -> None:
    expected = {}
    for name, (data, expectation) in CASES.items():
        (HERE / name).write_bytes(data)
        expected[name] = expectation
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(CASES)} files")


if __name__ == "__main__":
    main()
