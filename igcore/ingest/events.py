"""Importing interaction logs into ``events`` (and the item attributes they carry into ``items``)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from igcore import privacy
from igcore.config import IngestConfig
from igcore.ingest import sqlparts as sql
from igcore.ingest.mapping import EVENT_FIELDS, FieldSpec
from igcore.ingest.report import ImportReport
from igcore.ingest.runner import STAGED, Staging, run_import
from igcore.progress import Progress, no_progress
from igcore.store import Store

VOCAB = "igc_vocab"
DUPES = "igc_dupes"
ATTRS = "igc_item_attrs"
EVENT_KEY = "user_id, item_id, event_type, ts, value, session_id"  # what makes two events the same event


class EventsKind:
    name = "events"
    fields: tuple[FieldSpec, ...] = EVENT_FIELDS

    def staging(self, store: Store, cols: dict[str, str], header: list[str], config: IngestConfig) -> Staging:
        store.con.execute(f"CREATE OR REPLACE TEMP TABLE {VOCAB} (raw VARCHAR PRIMARY KEY, canonical VARCHAR)")
        store.con.executemany(f"INSERT INTO {VOCAB} VALUES (?, ?)",
                              [[k.lower(), v] for k, v in config.event_vocab.items()])
        raw_type = f"lower({sql.text(cols.get('event_type'))})"
        # Canonical type through the vocabulary; unknown types kept as they are; blank -> the default type.
        event_type = f"coalesce(v.canonical, {raw_type}, ?)"
        # A pseudonymising store keeps the raw id as a helper for the checks only: its pseudonym is the user_id.
        raw_user, pseudonymous = sql.text(cols["user_id"]), privacy.is_pseudonymized(store)
        user, params = privacy.ingest_user_sql(raw_user, privacy.store_key(store)) if pseudonymous else (raw_user, [])
        typed = [
            *([f"{raw_user} AS user_raw"] if pseudonymous else []),
            f"{user} AS user_id",
            f"{sql.text(cols['item_id'])} AS item_id",
            f"{event_type} AS event_type",
            f"{raw_type} IS NULL OR v.canonical IS NOT NULL AS type_known",
            f"{sql.text(cols['ts'])} AS ts_text",
            f"{sql.timestamp(sql.text(cols['ts']))} AS ts",
            f"{sql.text(cols.get('value'))} AS value_text",
            f"TRY_CAST({sql.text(cols.get('value'))} AS DOUBLE) AS value",
            f"{sql.text(cols.get('session_id'))} AS session_id",
            f"{sql.text(cols.get('category'))} AS category",
            f"{sql.text(cols.get('brand'))} AS brand",
            f"{sql.number(sql.text(cols.get('price')))} AS price",
        ]
        reason = "CASE " + " ".join([
            *sql.id_checks("user_id", config.max_id_chars, "user_raw" if pseudonymous else None),
            *sql.id_checks("item_id", config.max_id_chars),
            "WHEN ts_text IS NULL THEN 'empty timestamp: the column is blank'",
            f"WHEN ts IS NULL THEN 'unparseable timestamp: ' || {sql.shown('ts_text')}",
            sql.not_a_number("value"),
            f"WHEN length(session_id) > {int(config.max_id_chars)} THEN 'id too long: session_id has ' "
            f"|| length(session_id) || ' characters (limit {int(config.max_id_chars)})'",
        ]) + " END"
        return Staging(typed, reason, [*params, config.default_event_type],
                       joins=f"LEFT JOIN {VOCAB} v ON v.raw = {raw_type}",
                       helpers=("ts_text", "value_text", *(["user_raw"] if pseudonymous else [])),
                       raw_fields={cols["user_id"]: "user_id"} if pseudonymous else {},
                       withhold_unparsed=pseudonymous)

    def write(self, store: Store, import_id: int, cols: dict[str, str], report: ImportReport) -> None:
        con = store.con
        # Rows repeating an earlier row of this file: hash first (cheap), compare exactly only where hashes repeat.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {DUPES} AS
            WITH good AS (SELECT rn, {EVENT_KEY}, hash({EVENT_KEY}) AS h FROM {STAGED} WHERE reason IS NULL),
                 repeated AS (SELECT h FROM good GROUP BY h HAVING count(*) > 1)
            SELECT rn FROM (
                SELECT rn, row_number() OVER (PARTITION BY {EVENT_KEY} ORDER BY rn) AS k
                FROM good WHERE h IN (SELECT h FROM repeated)
            ) WHERE k > 1""")
        # Rows repeating an event already stored (an overlapping export); skipped when no stored event falls
        # within this file's time span, which is the common case of a fresh log.
        lo, hi = store.rows(f"SELECT min(ts), max(ts) FROM {STAGED} WHERE reason IS NULL")[0]
        if lo is not None and store.value("SELECT count(*) FROM events WHERE ts BETWEEN ? AND ?", [lo, hi]):
            con.execute(f"""
                INSERT INTO {DUPES}
                SELECT s.rn FROM {STAGED} s
                WHERE s.reason IS NULL AND s.rn NOT IN (SELECT rn FROM {DUPES}) AND EXISTS (
                    SELECT 1 FROM events e
                    WHERE e.ts BETWEEN ? AND ? AND e.user_id = s.user_id AND e.item_id = s.item_id
                      AND e.event_type = s.event_type AND e.ts = s.ts AND e.value IS NOT DISTINCT FROM s.value
                      AND e.session_id IS NOT DISTINCT FROM s.session_id)""", [lo, hi])
        base = store.next_event_id() - 1
        report.rows_duplicate = int(store.value(f"SELECT count(*) FROM {DUPES}"))
        not_duplicate = f" AND rn NOT IN (SELECT rn FROM {DUPES})" if report.rows_duplicate else ""  # a fresh log
        report.rows_loaded = int(store.value(f"""
            INSERT INTO events
            SELECT ? + rn, user_id, item_id, event_type, ts, value, session_id, ? FROM {STAGED}
            WHERE reason IS NULL{not_duplicate}""", [base, import_id]) or 0)
        report.unknown_event_types = dict(store.rows(f"""
            SELECT event_type, count(*) FROM {STAGED} WHERE reason IS NULL AND NOT type_known
            GROUP BY 1 ORDER BY 2 DESC, 1"""))
        attrs = [a for a in ("category", "brand", "price") if a in cols]
        if attrs:
            _fill_catalogue(store, import_id, attrs)
        con.execute(f"DROP TABLE IF EXISTS {DUPES}; DROP TABLE IF EXISTS {VOCAB}")


def _fill_catalogue(store: Store, import_id: int, attrs: list[str]) -> None:
    """Items named by events get the attributes the events carry (latest non-blank value), without
    overwriting what a catalogue import already set."""
    latest = ", ".join(
        f"arg_max({a}, ts) FILTER (WHERE {a} IS NOT NULL) AS {a}" if a in attrs else f"NULL AS {a}"
        for a in ("category", "brand", "price"))
    per_item = f"SELECT item_id, {latest} FROM {STAGED} WHERE reason IS NULL GROUP BY item_id"
    if not store.value("SELECT count(*) FROM items"):  # a first load: nothing to merge with
        store.con.execute(f"INSERT INTO items (item_id, category, brand, price, import_id) "
                          f"SELECT *, ? FROM ({per_item})", [import_id])
        return
    store.con.execute(f"CREATE OR REPLACE TEMP TABLE {ATTRS} AS {per_item}")
    store.con.execute(f"""
        UPDATE items SET category = coalesce(items.category, a.category), brand = coalesce(items.brand, a.brand),
                         price = coalesce(items.price, a.price)
        FROM {ATTRS} a
        WHERE items.item_id = a.item_id AND (items.category IS NULL OR items.brand IS NULL OR items.price IS NULL)""")
    store.con.execute(f"""
        INSERT INTO items (item_id, category, brand, price, import_id)
        SELECT a.item_id, a.category, a.brand, a.price, ? FROM {ATTRS} a
        WHERE a.item_id NOT IN (SELECT item_id FROM items)""", [import_id])
    store.con.execute(f"DROP TABLE {ATTRS}")


def import_events(
    store: Store,
    source: str | Path | BinaryIO,
    mapping: dict[str, str] | None = None,
    config: IngestConfig | None = None,
    name: str | None = None,
    progress: Progress = no_progress,
) -> ImportReport:
    """Import an events CSV (a path or a binary file object) in one transaction; see :mod:`runner`.

    ``mapping`` is column -> field and overrides the automatic mapping.
    """
    return run_import(store, source, EventsKind(), mapping, config, name, progress)
