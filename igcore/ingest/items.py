"""Importing item catalogues into ``items``; columns without a field are kept in ``extra`` as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from igcore.config import IngestConfig
from igcore.ingest import sqlparts as sql
from igcore.ingest.mapping import ITEM_FIELDS, FieldSpec
from igcore.ingest.report import ImportReport
from igcore.ingest.runner import STAGED, Staging, run_import
from igcore.progress import Progress, no_progress
from igcore.store import Store

ATTRS = ("title", "category", "brand", "price", "description", "extra")
CONTENT = "row(" + ", ".join(f"{a}::VARCHAR" for a in ATTRS) + ")"
FRESH = "igc_fresh_items"


class ItemsKind:
    name = "items"
    fields: tuple[FieldSpec, ...] = ITEM_FIELDS

    def staging(self, store: Store, cols: dict[str, str], header: list[str], config: IngestConfig) -> Staging:
        mapped = set(cols.values())
        extra_cols = [(name, f"c{i}") for i, name in enumerate(header) if f"c{i}" not in mapped]
        extra = (
            "json_object(" + ", ".join(f"?, {sql.text(c)}" for _, c in extra_cols) + ")" if extra_cols else "NULL::JSON"
        )
        typed = [
            f"{sql.text(cols['item_id'])} AS item_id",
            *(f"{sql.text(cols.get(a))} AS {a}" for a in ("title", "category", "brand", "description")),
            f"{sql.text(cols.get('price'))} AS price_text",
            f"{sql.number(sql.text(cols.get('price')))} AS price",
            f"{extra} AS extra",
        ]
        limit = int(config.max_id_chars)
        reason = "CASE " + " ".join([
            *sql.id_checks("item_id", limit),
            sql.not_a_number("price"),
            # A later row for the same item with other values: ambiguous, so the user decides.
            f"WHEN {CONTENT} IS DISTINCT FROM first_value({CONTENT}) OVER (PARTITION BY item_id ORDER BY rn) "
            "THEN 'conflicting item: ' || item_id || ' appears earlier in the file with other values'",
        ]) + " END"
        return Staging(typed, reason, [name for name, _ in extra_cols], helpers=("price_text",),
                       row_numbers=True)

    def write(self, store: Store, import_id: int, cols: dict[str, str], report: ImportReport) -> None:
        # First row per item, unless the store already holds exactly the same item (then it is a duplicate).
        store.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {FRESH} AS
            SELECT * FROM (
                SELECT *, row_number() OVER (PARTITION BY item_id ORDER BY rn) AS k FROM {STAGED}
                WHERE reason IS NULL) s
            WHERE k = 1 AND NOT EXISTS (
                SELECT 1 FROM items i WHERE i.item_id = s.item_id
                AND row({", ".join(f"i.{a}::VARCHAR" for a in ATTRS)}) IS NOT DISTINCT FROM
                    row({", ".join(f"s.{a}::VARCHAR" for a in ATTRS)}))""")
        # A re-imported item replaces its stored row.
        store.con.execute(f"DELETE FROM items WHERE item_id IN (SELECT item_id FROM {FRESH})")
        report.rows_loaded = int(store.value(
            f"INSERT INTO items SELECT item_id, {', '.join(ATTRS)}, ? FROM {FRESH}", [import_id]) or 0)
        good = int(store.value(f"SELECT count(*) FROM {STAGED} WHERE reason IS NULL"))
        report.rows_duplicate = good - report.rows_loaded
        store.con.execute(f"DROP TABLE IF EXISTS {FRESH}")


def import_items(
    store: Store,
    source: str | Path | BinaryIO,
    mapping: dict[str, str] | None = None,
    config: IngestConfig | None = None,
    name: str | None = None,
    progress: Progress = no_progress,
) -> ImportReport:
    """Import an item catalogue CSV in one transaction; a re-imported item replaces its attributes."""
    return run_import(store, source, ItemsKind(), mapping, config, name, progress)
