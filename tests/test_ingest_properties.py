"""Property: for random CSVs, every row written is read, and read = loaded + quarantined + duplicate, with a
Python oracle deciding which rows are good and which repeat an earlier one."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from igcore.ingest import import_events
from igcore.store import Store

ids = st.sampled_from(["u1", "u2", " u3 ", "", "  ", "a,b", 'q"uote', "multi\nline", "ü"])
types = st.sampled_from(["view", "pv", "buy", "purchase", "", "weird"])
stamps = st.sampled_from(["100", "100", "1511544070", "1511544070123", "2020-01-01T00:00:00Z", "2020-01-01",
                          "", "soon", "xx-yy"])
rows = st.lists(st.tuples(ids, ids, types, stamps), max_size=40)
delims = st.sampled_from([",", ";", "\t", "|"])

CANON = {"view": "view", "pv": "view", "buy": "purchase", "purchase": "purchase", "": "interaction",
         "weird": "weird"}
INSTANT = {"100": 100.0, "1511544070": 1511544070.0, "1511544070123": 1511544070.123,
           "2020-01-01T00:00:00Z": 1577836800.0, "2020-01-01": 1577836800.0}  # the last two: one instant


def oracle(data: list[tuple[str, str, str, str]]) -> tuple[int, int, int]:
    seen, loaded, quarantined = set(), 0, 0
    for user, item, etype, ts in data:
        if not user.strip() or not item.strip() or ts not in INSTANT:
            quarantined += 1
            continue
        key = (user.strip(), item.strip(), CANON[etype], INSTANT[ts])
        if key not in seen:
            seen.add(key)
            loaded += 1
    return loaded, quarantined, len(data) - loaded - quarantined


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=rows, delim=delims)
def test_accounting_identity_holds(tmp_path_factory, data, delim):
    path = tmp_path_factory.mktemp("prop") / "events.csv"
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delim, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["user_id", "item_id", "event_type", "timestamp"])
    writer.writerows(data)
    path.write_text(buf.getvalue(), encoding="utf-8")
    with Store(path.with_suffix(".duckdb")) as store:
        report = import_events(store, path)
        assert report.rows_read == len(data)
        assert report.rows_read == report.rows_loaded + report.rows_quarantined + report.rows_duplicate
        assert (report.rows_loaded, report.rows_quarantined, report.rows_duplicate) == oracle(data)
        assert store.value("SELECT count(*) FROM events") == report.rows_loaded
        assert store.value("SELECT count(*) FROM quarantine") == report.rows_quarantined
