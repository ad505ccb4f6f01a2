"""The embedded DuckDB store: one file that every stage reads and the importers write.

SQL here is parameterized; table and column names come from this module, never from user input. DuckDB
allows a single writer: opening a file that another process holds raises :class:`StoreLockedError` with a
sentence a person can act on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from igcore.errors import StoreLockedError
from igcore.paths import default_db_path

SCHEMA_VERSION = 1

PSEUDONYM_KEY = "pseudonym_key"  # meta key of the store's pseudonym key (igcore.privacy)
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS events (
    event_id BIGINT,          -- global arrival order: import order, then row order; breaks timestamp ties
    user_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    event_type VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,    -- UTC
    value DOUBLE,
    session_id VARCHAR,
    import_id BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    item_id VARCHAR NOT NULL,  -- unique, kept so by the importers (an index slowed bulk loads)
    title VARCHAR,
    category VARCHAR,
    brand VARCHAR,
    price DOUBLE,
    description VARCHAR,
    extra JSON,
    import_id BIGINT
);
CREATE TABLE IF NOT EXISTS imports (
    import_id BIGINT PRIMARY KEY,
    kind VARCHAR NOT NULL,    -- events | items
    file_name VARCHAR,
    sha256 VARCHAR,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_quarantined BIGINT,
    rows_duplicate BIGINT,
    started TIMESTAMP,
    finished TIMESTAMP,
    status VARCHAR,           -- ok | empty
    mapping JSON,             -- field -> source column actually used
    notes JSON                -- warnings: unknown event types, encoding guesses, ...
);
CREATE TABLE IF NOT EXISTS quarantine (
    import_id BIGINT NOT NULL,
    line_no BIGINT,           -- line of the record in the file; the header is line 1
    raw_line VARCHAR,
    reason VARCHAR NOT NULL
);
"""

_LOCK_PID = re.compile(r"PID (\d+)")


@dataclasses.dataclass(frozen=True)
class StoreStats:
    """What is loaded, for the CLI's ``stats`` and the dashboard's home page."""

    events: int
    users: int
    items_seen: int
    catalogue_items: int
    first_ts: Any
    last_ts: Any
    imports: int
    quarantined: int
    event_types: dict[str, int]


class Store:
    """An open DuckDB store. Use as a context manager so the file lock is released promptly."""

    # DuckDB refuses a read-only and a read-write connection to one file in one process. A server whose threads
    # read while others write (the dashboard's sessions) sets this, so that every Store of the process opens
    # the file read-write and all connections share one database instance; reads stay reads.
    one_writer_per_process = False

    def __init__(self, path: str | Path | None = None, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        shared = read_only and Store.one_writer_per_process and self.path.exists()
        self.read_only = read_only = read_only and not shared
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise _as_lock_error(self.path, exc) from exc
        self.con.execute("SET TimeZone = 'UTC'")
        if not read_only and not shared:  # a read opened read-write only to share the instance writes nothing
            self._migrate()

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        self.con.execute(SCHEMA)
        self.con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [str(SCHEMA_VERSION)]
        )
        # The key of the store's user pseudonyms (igcore.privacy), drawn once.
        self.con.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT DO NOTHING",
                         [PSEUDONYM_KEY, secrets.token_hex(16)])

    # --- queries ---------------------------------------------------------------------------------
    def rows(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Run a query and read its whole result (DuckDB 2 blocks on half-read results)."""
        return self.con.execute(sql, params or []).fetchall()

    def value(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        result = self.rows(sql, params)
        return result[0][0] if result else None

    def df(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: commit on success, roll back on any exception (and on a kill, by DuckDB's WAL)."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # --- catalogue of imports ----------------------------------------------------------------------
    def next_import_id(self) -> int:
        return int(self.value("SELECT coalesce(max(import_id), 0) + 1 FROM imports"))

    def next_event_id(self) -> int:
        return int(self.value("SELECT coalesce(max(event_id), 0) + 1 FROM events"))

    def find_import(self, sha256: str, kind: str) -> dict[str, Any] | None:
        """The earlier import of the same bytes as the same kind, if any."""
        found = self.df(
            "SELECT * FROM imports WHERE sha256 = ? AND kind = ? ORDER BY import_id LIMIT 1", [sha256, kind]
        )
        return None if found.empty else found.iloc[0].to_dict()

    def imports(self) -> pd.DataFrame:
        return self.df("SELECT * FROM imports ORDER BY import_id")

    def quarantined(self, import_id: int | None = None, limit: int = 1000) -> pd.DataFrame:
        if import_id is None:
            return self.df("SELECT * FROM quarantine ORDER BY import_id, line_no LIMIT ?", [limit])
        return self.df(
            "SELECT * FROM quarantine WHERE import_id = ? ORDER BY line_no LIMIT ?", [import_id, limit]
        )

    def stats(self) -> StoreStats:
        ev = self.rows(
            "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id), min(ts), max(ts) FROM events"
        )[0]
        types = dict(self.rows("SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC"))
        return StoreStats(
            events=ev[0],
            users=ev[1],
            items_seen=ev[2],
            catalogue_items=int(self.value("SELECT count(*) FROM items")),
            first_ts=ev[3],
            last_ts=ev[4],
            imports=int(self.value("SELECT count(*) FROM imports")),
            quarantined=int(self.value("SELECT count(*) FROM quarantine")),
            event_types=types,
        )


def _as_lock_error(path: Path, exc: duckdb.IOException) -> Exception:
    text = str(exc)
    if "lock" not in text.lower():
        return exc
    pid = _LOCK_PID.search(text)
    holder = f"process {pid.group(1)}" if pid else "another process"
    return StoreLockedError(
        f"the store {path} is in use by {holder} (DuckDB allows one writer); "
        "close the other program (dashboard or CLI) or use another --db"
    )
