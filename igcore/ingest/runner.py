"""The import machinery shared by events and items: stage, quarantine, write, account, all in one transaction.

0. While the file is hashed its records are counted from the bytes (:mod:`records`); records longer than
   ``max_line_bytes`` are cut out before DuckDB reads the file and quarantined here.
1. DuckDB's CSV reader parses the file with every column as text into a staging table; lines it cannot parse
   (wrong field count, bad encoding) land in its rejects table with their line number and text.
2. The import kind (events or items) turns text into typed fields and a ``reason`` for rows it refuses.
3. Refused rows of both sorts go to ``quarantine``; the kind writes the rest, skipping exact duplicates.
4. ``rows_read`` is the byte count of records, and the reader must account for every one of them (staged or
   rejected); then ``rows_read = loaded + quarantined + duplicate`` is checked before the transaction commits.

A crash or kill anywhere before COMMIT leaves the store as it was (DuckDB's WAL drops the open transaction).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from igcore.config import IngestConfig
from igcore.errors import IngestError
from igcore.ingest.mapping import FieldSpec, resolve_mapping
from igcore.ingest.report import ImportReport
from igcore.ingest.source import CsvFile, Readable, open_csv, readable
from igcore.progress import Progress, no_progress
from igcore.store import Store

STAGED = "igc_staged"  # a view over STAGED_ROWS that always has ``rn``, the record's position in the file
STAGED_ROWS = "igc_staged_rows"
REJECTS = "igc_rejects"
REJECT_SCANS = "igc_reject_scans"
GAPS = "igc_gaps"  # lines of the file that are not staged rows (rejected, skipped, blank), in file numbering


@dataclasses.dataclass
class Staging:
    """The typed fields of one staged row, as SQL over the text columns ``c0, c1, ...``."""

    typed: list[str]  # "expr AS name" over c-columns (and the joined tables)
    reason: str  # SQL over the typed names: NULL for a good row, else "kind: detail"
    params: list  # values for the ``?`` placeholders of ``typed``, in order
    joins: str = ""  # e.g. a LEFT JOIN of a lookup table, after ``FROM src``
    helpers: tuple[str, ...] = ()  # typed names needed only by ``reason``; not kept in the staging table
    row_numbers: bool = False  # whether ``typed``/``reason`` need ``rn`` (costs a pass; else rn = rowid + 1)
    raw_fields: dict[str, str] = dataclasses.field(default_factory=dict)  # c-column -> what a refused row's
    # quarantined line shows in its place (a typed name), e.g. the pseudonym instead of the user id
    withhold_unparsed: bool = False  # keep no text of lines the reader could not split into fields (their id
    # could be anywhere in them): the pseudonymising importer's choice


class ImportKind(Protocol):
    name: str
    fields: tuple[FieldSpec, ...]

    def staging(self, store: Store, cols: dict[str, str], header: list[str], config: IngestConfig) -> Staging:
        """SQL for the typed fields and the refusal reason; may create helper temp tables."""

    def write(self, store: Store, import_id: int, cols: dict[str, str], report: ImportReport) -> None:
        """Insert the good staged rows; set ``report.rows_loaded`` and ``report.rows_duplicate``."""


def run_import(
    store: Store,
    source: str | Path | BinaryIO,
    kind: ImportKind,
    mapping: dict[str, str] | None = None,
    config: IngestConfig | None = None,
    name: str | None = None,
    progress: Progress = no_progress,
) -> ImportReport:
    config = config or IngestConfig()
    t0 = time.perf_counter()
    with open_csv(source, config, name, progress) as csv_file:
        earlier = store.find_import(csv_file.sha256, kind.name)
        if earlier is not None:
            return ImportReport(
                import_id=int(earlier["import_id"]), kind=kind.name, file_name=csv_file.name,
                sha256=csv_file.sha256, status="already_imported",
            )
        fields = resolve_mapping(csv_file.header, kind.fields, mapping)
        cols = {field: f"c{csv_file.header.index(column)}" for field, column in fields.items()}
        started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with store.transaction(), readable(csv_file) as source_text:
            import_id = store.next_import_id()
            report = ImportReport(import_id, kind.name, csv_file.name, csv_file.sha256, "ok",
                                  mapping=fields, notes=list(csv_file.notes))
            staging = kind.staging(store, cols, csv_file.header, config)
            staged = _stage(store, csv_file, source_text, staging, config, progress)
            _gaps(store, source_text, csv_file.count.blank_lines)
            rejected = _quarantine_rejects(store, import_id, staging.withhold_unparsed) + \
                _quarantine_skipped(store, import_id, source_text, config, staging.withhold_unparsed)
            report.rows_read = csv_file.count.records
            if staged + rejected != report.rows_read:
                raise IngestError(
                    f"{csv_file.name}: {report.rows_read:,} records counted in the file, but the CSV reader "
                    f"accounted for {staged + rejected:,} ({staged:,} read, {rejected:,} refused); nothing was "
                    "imported so that no record is lost silently")
            report.rows_quarantined = rejected + _quarantine_refused(store, import_id)
            progress("write", 0, 1, {})
            kind.write(store, import_id, cols, report)
            progress("write", 1, 1, {})
            report.reasons = _reason_counts(store, import_id)
            if report.rows_read == 0:
                report.status = "empty"
                report.notes.append("the file has a header but no rows")
            if not report.balanced:  # a bug, never a user's problem: refuse to commit a lossy import
                raise RuntimeError(f"import accounting does not balance: {report.as_dict()}")
            report.seconds = time.perf_counter() - t0
            _record(store, report, started)
            store.con.execute(f"DROP VIEW IF EXISTS {STAGED}; DROP TABLE IF EXISTS {STAGED_ROWS}; "
                              f"DROP TABLE IF EXISTS {GAPS}")
        return report


def _stage(store: Store, csv_file: CsvFile, source: Readable, staging: Staging, config: IngestConfig,
           progress: Progress) -> int:
    n = len(csv_file.header)
    text_cols = [f"c{i}" for i in range(n)]
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in text_cols) + "}"
    raw_line = _raw_line_sql([staging.raw_fields.get(c, c) for c in text_cols], csv_file.delimiter)
    # Without a window the table keeps file order (DuckDB preserves insertion order) in consecutive rowids
    # (from a large base inside a transaction), so rowid gives the record's position without a row_number() pass.
    rn = "row_number() OVER () AS rn, " if staging.row_numbers else ""
    sql = f"""
        CREATE OR REPLACE TEMP TABLE {STAGED_ROWS} AS
        WITH src AS (
            SELECT {rn}* FROM read_csv(?, header = true, delim = ?, quote = '"',
                escape = '"', encoding = ?, compression = ?, max_line_size = ?, auto_detect = false,
                columns = {columns}, null_padding = false, strict_mode = true, store_rejects = true,
                rejects_table = '{REJECTS}', rejects_scan = '{REJECT_SCANS}')
        ),
        typed AS (SELECT src.*, {", ".join(staging.typed)} FROM src {staging.joins}),
        judged AS (SELECT *, {staging.reason} AS reason FROM typed)
        SELECT * EXCLUDE ({", ".join([*text_cols, *staging.helpers])}),
               CASE WHEN reason IS NOT NULL THEN {raw_line} END AS raw_line
        FROM judged
    """
    con = store.con
    con.execute(f"DROP TABLE IF EXISTS {REJECTS}; DROP TABLE IF EXISTS {REJECT_SCANS}")
    params = [str(source.path), csv_file.delimiter, source.encoding, source.compression,
              config.max_line_bytes, *staging.params]
    with _polled_progress(store, progress, "read"):
        con.execute(sql, params).fetchall()
    base = int(store.value(f"SELECT coalesce(min(rowid), 0) FROM {STAGED_ROWS}"))
    view = f"SELECT * FROM {STAGED_ROWS}" if staging.row_numbers else \
        f"SELECT rowid - {base} + 1 AS rn, * FROM {STAGED_ROWS}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {STAGED} AS {view}")
    return int(store.value(f"SELECT count(*) FROM {STAGED_ROWS}"))


@contextlib.contextmanager
def _polled_progress(store: Store, progress: Progress, stage: str) -> Iterator[None]:
    """Report DuckDB's own progress of the running query, polled from a side thread."""
    if progress is no_progress:
        yield
        return
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            pct = store.con.query_progress()
            if pct >= 0:
                progress(stage, int(pct), 100, {})

    store.con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        progress(stage, 100, 100, {})


def _raw_line_sql(text_cols: list[str], delimiter: str) -> str:
    """The record's fields joined back into one CSV line, quoted where needed (delimiter is from a fixed set)."""
    delim = delimiter.replace("'", "''")
    parts = [
        f"""coalesce(CASE WHEN regexp_matches({c}, '[{delim}"\\n\\r]')
                  THEN '"' || replace({c}, '"', '""') || '"' ELSE {c} END, '')"""
        for c in text_cols
    ]
    return f"concat_ws('{delim}', {', '.join(parts)})"


def _gaps(store: Store, source: Readable, blank_lines: tuple[int, ...]) -> None:
    """Number the rejects in the file's lines and list every line that is no staged row.

    DuckDB numbers the lines of what it read; the records cut out before (``source.skipped``) shift them:
    read line f is file line f + #{skipped k : s_k - k < f} (s_k the k-th skipped line, in order)."""
    con = store.con
    con.execute(f"CREATE OR REPLACE TEMP TABLE {GAPS} (line BIGINT, kind VARCHAR)")
    con.execute(f"INSERT INTO {GAPS} SELECT unnest(?::BIGINT[]), 'skipped'", [[r.line_no for r in source.skipped]])
    con.execute(f"INSERT INTO {GAPS} SELECT unnest(?::BIGINT[]), 'blank'", [list(blank_lines)])
    con.execute(f"""
        UPDATE {REJECTS} SET line = line + (
            SELECT count(*) FROM (SELECT line - row_number() OVER (ORDER BY line) AS g FROM {GAPS}
                                  WHERE kind = 'skipped') s
            WHERE s.g < {REJECTS}.line)""")
    con.execute(f"INSERT INTO {GAPS} SELECT DISTINCT line, 'rejected' FROM {REJECTS}")


WITHHELD = " (its text is not kept: this store pseudonymises user ids)"


def _quarantine_rejects(store: Store, import_id: int, withhold: bool = False) -> int:
    """Lines the CSV parser refused, one quarantine row per line (``withhold``: without their text, and with
    the reader's kind of error only, as its message may quote the line)."""
    text, detail = ("NULL", f"'{WITHHELD}'") if withhold else \
        ("first(csv_line)", "' (' || first(error_message ORDER BY column_idx) || ')'")
    return int(store.value(
        f"""INSERT INTO quarantine
            SELECT ?, line, {text}, 'unreadable line: ' || lower(first(error_type ORDER BY column_idx)) || {detail}
            FROM {REJECTS} GROUP BY line""",
        [import_id],
    ) or 0)


def _quarantine_skipped(store: Store, import_id: int, source: Readable, config: IngestConfig,
                        withhold: bool = False) -> int:
    """Over-long records, cut out before DuckDB read the file: their line and the start of their text (none
    with ``withhold``)."""
    rows = [[import_id, r.line_no, None if withhold else r.excerpt,
             f"unreadable line: line size over maximum (the record has {r.nbytes:,} bytes; the limit, "
             f"max_line_bytes, is {config.max_line_bytes:,}); it was not read" + (WITHHELD if withhold else "")]
            for r in source.skipped]
    if rows:
        store.con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?)", rows)
    return len(rows)


def _quarantine_refused(store: Store, import_id: int) -> int:
    """Parsed rows whose content was refused. Their line is the record's position (rn) shifted past the
    lines before it that are no staged row: gap k at line L_k precedes record rn iff L_k - k <= rn."""
    return int(store.value(
        f"""INSERT INTO quarantine
            WITH r AS (SELECT line - row_number() OVER (ORDER BY line) AS g FROM (SELECT DISTINCT line FROM {GAPS}))
            SELECT ?, s.rn + 1 + (SELECT count(*) FROM r WHERE r.g <= s.rn), s.raw_line, s.reason
            FROM {STAGED} s WHERE s.reason IS NOT NULL""",
        [import_id],
    ) or 0)


def _reason_counts(store: Store, import_id: int) -> dict[str, int]:
    return dict(store.rows(
        """SELECT split_part(reason, ':', 1) AS kind, count(*) FROM quarantine WHERE import_id = ?
           GROUP BY kind ORDER BY 2 DESC, 1""",
        [import_id],
    ))


def _record(store: Store, report: ImportReport, started: dt.datetime) -> None:
    notes = {"notes": report.notes, "unknown_event_types": report.unknown_event_types}
    store.con.execute(
        """INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?, ?)""",
        [report.import_id, report.kind, report.file_name, report.sha256, report.rows_read, report.rows_loaded,
         report.rows_quarantined, report.rows_duplicate, started, report.status, json.dumps(report.mapping),
         json.dumps(notes)],
    )
