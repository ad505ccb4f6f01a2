"""Import speed: a 5M-row events CSV through ``igcore ingest``'s importer against DuckDB's own read_csv.

All run in this process on the same file, alternating, each into a fresh DuckDB file; medians of --repeats.
The baseline is ``CREATE TABLE AS SELECT * FROM read_csv(file, all_varchar = true)``: parsing and storing
every column as text, which is how the importer reads a file before it checks anything (a user's columns are
untrusted text until checked). DuckDB's reader with its type auto-detection is timed beside it. The importer
additionally hashes the file, maps columns, parses timestamps, checks every row, quarantines, de-duplicates,
fills the catalogue from the category column and records the import.

    .venv/bin/python bench/import_speed.py [--rows 5000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import duckdb

from igcore.benchio import WORK, machine, median, timed, today, write_json, write_section
from igcore.ingest import import_events
from igcore.store import Store


def make_csv(rows: int) -> Path:
    """A Taobao-shaped log (user_id,item_id,category_id,behavior,timestamp), made once and reused."""
    path = WORK / f"events_{rows}.csv"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        duckdb.sql(f"""COPY (
            SELECT (i * 7919) % 987631 AS user_id, (i * 104729) % 4162024 AS item_id,
                   (i * 31) % 9439 AS category_id,
                   CASE WHEN i % 100 < 89 THEN 'pv' WHEN i % 100 < 95 THEN 'cart' WHEN i % 100 < 98 THEN 'fav'
                        ELSE 'buy' END AS behavior,
                   1511539200 + (i * 86400 * 9) // {rows} AS timestamp
            FROM range({rows}) t(i)) TO '{path}' (HEADER)""")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    csv = make_csv(args.rows)
    scratch = WORK / "scratch"

    def fresh(name: str) -> Path:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        return scratch / name

    def reader(all_text: bool) -> None:
        con = duckdb.connect(str(fresh("raw.duckdb")))
        con.execute("CREATE TABLE raw AS SELECT * FROM read_csv(?, all_varchar = ?)", [str(csv), all_text])
        con.close()

    def ours() -> None:
        with Store(fresh("store.duckdb")) as store:
            report = import_events(store, csv)
            assert report.rows_loaded == args.rows, report.summary()

    load_before = f"{os.getloadavg()[0]:.1f}"
    base_s, typed_s, ours_s = [], [], []
    for _ in range(args.repeats):  # alternate, so all see the same machine load
        base_s += timed(lambda: reader(True), 1)
        typed_s += timed(lambda: reader(False), 1)
        ours_s += timed(ours, 1)
    shutil.rmtree(scratch, ignore_errors=True)
    base_rate, typed_rate, ours_rate = (args.rows / median(s) for s in (base_s, typed_s, ours_s))
    how = f"bench/import_speed.py --rows {args.rows} --repeats {args.repeats}: median wall time, fresh store each run"
    write_json("speed", merge=True, data={
        "import_events_rows_per_s": {"value": round(ours_rate), "unit": "rows/s", "how": how,
                                     "runs_s": [round(x, 3) for x in ours_s], "date": today(), "machine": machine()},
        "duckdb_read_csv_rows_per_s": {"value": round(base_rate), "unit": "rows/s",
                                       "how": how + " (baseline: every column as text)",
                                       "runs_s": [round(x, 3) for x in base_s], "date": today(),
                                       "machine": machine()},
        "duckdb_read_csv_typed_rows_per_s": {"value": round(typed_rate), "unit": "rows/s",
                                             "how": how + " (types auto-detected)",
                                             "runs_s": [round(x, 3) for x in typed_s], "date": today(),
                                             "machine": machine()},
        "import_vs_read_csv": {"value": round(ours_rate / base_rate, 3), "unit": "ratio", "how": how},
    })
    write_section("import-speed", f"""
## CSV import speed

{today()} · {machine()} · `{how.split(':')[0]}`

| what | median s | rows/s | runs (s) |
|---|---:|---:|---|
| DuckDB `read_csv`, every column as text, into a table (baseline) | {median(base_s):.2f} | {base_rate:,.0f} | {', '.join(f'{x:.2f}' for x in base_s)} |
| DuckDB `read_csv`, types auto-detected, into a table | {median(typed_s):.2f} | {typed_rate:,.0f} | {', '.join(f'{x:.2f}' for x in typed_s)} |
| `import_events` (checks, quarantine, dedupe, catalogue, one transaction) | {median(ours_s):.2f} | {ours_rate:,.0f} | {', '.join(f'{x:.2f}' for x in ours_s)} |

Importer at {ours_rate / base_rate:.2f}x of the baseline's rate (target >= 0.35x) and {ours_rate / typed_rate:.2f}x of the
typed reader's; load average {load_before} when the runs began (a shared machine).
""")
    print(f"baseline {base_rate:,.0f} rows/s, import_events {ours_rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
