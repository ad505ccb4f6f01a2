"""The event log beyond one file: the store's events exported as a folder of Parquet files, one per day, and
read back in the store's place.

A shop's log outgrows what one DuckDB file should carry, and other tools (pandas, Spark, Ray Data) read Parquet.
Layout of an export folder, in hive style so any Parquet reader sees the day::

    DIR/day=YYYY-MM-DD/events_0.parquet   the day's events (every column of the store's ``events``), in
                                          (ts, event_id) order
    DIR/_igcore_export.json               the source store, and per day its event count and last event id

An export rewrites only the days whose (count, last event id) differ from the record: a later export appends
the new days and rewrites a day that received late events; a day whose events were all forgotten is removed.
Each day's file is written beside the folder first and moved in whole, and the record is replaced last, so an
interrupted export leaves readable days and is completed by the next one.

Reading: :func:`use_event_log` shadows the store's ``events`` table with a temporary view over a folder, for the
connection's life, so every read of the log (training, evaluation, snapshot building) takes the folder's events
while models and snapshots are still written to the store. The store records each folder it exported to, and
:func:`forget_in_exports` rewrites the days of those folders that hold a forgotten user's events.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
from pathlib import Path

from igcore.errors import IgcoreError
from igcore.paths import atomic_path, replace_scrubbed, scrub
from igcore.store import Store, sql_text

MANIFEST = "_igcore_export.json"
EXPORTS_KEY = "parquet_exports"  # meta key: JSON list of the folders this store exported to
COLUMNS = "event_id, user_id, item_id, event_type, ts, value, session_id, import_id"
DAY = "strftime(ts, '%Y-%m-%d')"
EMPTY = ("NULL::BIGINT AS event_id, NULL::VARCHAR AS user_id, NULL::VARCHAR AS item_id, NULL::VARCHAR AS event_type, "
         "NULL::TIMESTAMP AS ts, NULL::DOUBLE AS value, NULL::VARCHAR AS session_id, NULL::BIGINT AS import_id")


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What one export did."""

    folder: Path
    days_written: int
    days_unchanged: int
    days_removed: int
    events_written: int

    def summary(self) -> str:
        removed = f", {self.days_removed:,} removed (no events left)" if self.days_removed else ""
        return (f"{self.folder}: {self.days_written:,} days written ({self.events_written:,} events), "
                f"{self.days_unchanged:,} unchanged{removed}")


def export_parquet(store: Store, folder: Path) -> ExportReport:
    """Write the store's events to ``folder``, one Parquet file per day, rewriting only the days that changed
    since the folder's last export (see the module docstring); the store records the folder for forgetting."""
    folder = Path(folder).resolve()
    record = _read_manifest(folder)
    source = str(Path(store.path).resolve())
    if record and record.get("source") != source:
        raise IgcoreError(f"{folder} holds an export of another store ({record.get('source')}): export to an "
                          "empty or new folder")
    if folder.exists() and not record and any(folder.iterdir()):
        raise IgcoreError(f"{folder} is not empty and holds no igcore export: export to an empty or new folder")
    days = {d: [int(n), int(last)] for d, n, last in
            store.rows(f"SELECT {DAY} AS day, count(*), max(event_id) FROM events GROUP BY 1 ORDER BY 1")}
    known = record.get("days", {}) if record else {}
    changed = [d for d, stats in days.items() if known.get(d) != stats]
    gone = [d for d in known if d not in days]
    folder.mkdir(parents=True, exist_ok=True)
    _register(store, folder)
    if changed:
        staging = folder / f".staging-{secrets.token_hex(4)}"
        try:
            store.con.sql(f"SELECT {COLUMNS}, {DAY} AS day FROM events WHERE {DAY} IN (SELECT unnest(?::VARCHAR[])) "
                          "ORDER BY ts, event_id", params=[changed]
                          ).write_parquet(str(staging), partition_by=["day"], filename_pattern="events_{i}")
            for day in changed:
                _swap_in(staging / f"day={day}", folder / f"day={day}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    for day in gone:
        _remove_day(folder / f"day={day}")
    _write_manifest(folder, {"source": source, "days": days})
    return ExportReport(folder, len(changed), len(days) - len(changed), len(gone),
                        sum(days[d][0] for d in changed))


def use_event_log(store: Store, folder: Path) -> int:
    """Read the store's events from the export ``folder`` from now on, on this connection (a temporary view
    named ``events`` shadows the table); returns the number of events there. Writing events is refused while
    the view is in place."""
    folder = Path(folder).resolve()
    if not _read_manifest(folder):
        raise IgcoreError(f"{folder} holds no igcore export (no {MANIFEST}): write one with "
                          "`igcore export --parquet DIR`")
    view_events(store.con, folder)
    return int(store.value("SELECT count(*) FROM events"))


def view_events(con, folder: Path) -> None:
    """A temporary view ``events`` over the export ``folder``'s day files on the DuckDB connection ``con``."""
    source = f"read_parquet({sql_text(str(folder / 'day=*' / '*.parquet'))}, hive_partitioning = false)" \
        if _files(folder) else f"(SELECT {EMPTY}) WHERE false"  # an export of an empty store
    con.execute(f"CREATE OR REPLACE TEMP VIEW events AS SELECT {COLUMNS} FROM {source}")


def export_folder(path: str | Path) -> Path | None:
    """``path`` resolved when it is an export folder, else None."""
    folder = Path(path)
    return folder.resolve() if folder.is_dir() and (folder / MANIFEST).exists() else None


def export_source(folder: Path) -> Path:
    """The store an export folder was written from (its catalogue goes with the events)."""
    source = Path(_read_manifest(folder).get("source", ""))
    if not source.is_file():
        raise IgcoreError(f"{folder} was exported from {source}, which is not here: its catalogue is needed too")
    return source


def exported_folders(store: Store) -> list[Path]:
    """The folders this store has exported its events to."""
    value = store.value("SELECT value FROM meta WHERE key = ?", [EXPORTS_KEY])
    return [Path(p) for p in json.loads(value)] if value else []


def forget_in_exports(store: Store, user_id: str) -> str:
    """Rewrite, in every folder the store exported to, each day file that holds ``user_id``'s events without
    them (the old file is overwritten before it is freed) and correct the folder's record; one line saying what
    was done, without the id."""
    files, folders = 0, 0
    for folder in exported_folders(store):
        record = _read_manifest(folder)
        if not record:
            continue
        days = record.get("days", {})
        found = False
        for path in _files(folder):
            glob = sql_text(str(path))
            holds = store.con.execute(f"SELECT count(*) FROM read_parquet({glob}) WHERE user_id = ?",
                                      [user_id]).fetchall()[0][0]
            if not holds:
                continue
            found, files = True, files + 1
            day = path.parent.name.removeprefix("day=")
            kept = store.con.sql(f"SELECT * FROM read_parquet({glob}) WHERE user_id <> ? ORDER BY ts, event_id",
                                 params=[user_id])
            n, last = store.con.execute(f"SELECT count(*), max(event_id) FROM read_parquet({glob}) "
                                        "WHERE user_id <> ?", [user_id]).fetchall()[0]
            if n:
                fresh = path.with_name(f".{path.name}.new")
                kept.write_parquet(str(fresh))
                replace_scrubbed(path, fresh)
                days[day] = [int(n), int(last)]
            else:
                _remove_day(path.parent)
                days.pop(day, None)
        if found:
            folders += 1
            _write_manifest(folder, {**record, "days": days})
    if not files:
        return "none of the exported Parquet folders held this user's events" if exported_folders(store) else \
            "no Parquet exports"
    return f"{files:,} day files in {folders:,} Parquet export folders rewritten without this user's events"


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("day=*/*.parquet"))


def _read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise IgcoreError(f"{path} cannot be read ({exc}): export to a new folder") from exc


def _write_manifest(folder: Path, record: dict) -> None:
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(record, indent=1))


def _register(store: Store, folder: Path) -> None:
    folders = [str(p) for p in exported_folders(store)]
    if str(folder) not in folders:
        store.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [EXPORTS_KEY, json.dumps([*folders,
                                                                                                  str(folder)])])


def _swap_in(fresh: Path, day: Path) -> None:
    """Move a freshly written day folder in place of the old one (whose files are overwritten, then freed)."""
    if day.exists():
        old = day.with_name(f".{day.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        day.rename(old)
        fresh.rename(day)
        _remove_day(old)
    else:
        fresh.rename(day)


def _remove_day(day: Path) -> None:
    for f in day.glob("*"):
        scrub(f)
    shutil.rmtree(day, ignore_errors=True)
