"""The embedded DuckDB store: one file that every stage reads and the importers write.

SQL here is parameterized; table and column names come from this module, never from user input. DuckDB
allows a single writer: opening a file that another process holds raises :class:`StoreLockedError` with a
sentence a person can act on.

Encryption at rest (optional): with a key in ``IGCORE_DB_KEY``, or in the file named by ``IGCORE_DB_KEY_FILE``
(which must be the owner's only, mode 600), the store is a DuckDB encrypted database (AES-GCM; the WAL too):
its bytes on disk hold no readable value, and opening it without the key, or with another, fails with a
:class:`StoreKeyError` (:mod:`igcore.storekey`). The key is never written into the store. DuckDB writes
encrypted files only with the OpenSSL ciphers of its ``httpfs`` extension (its built-in fallback can only read
them), so writing needs that extension installed; reading (``read_only=True``) works without it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

import igcore.storekeep as storekeep
from igcore.errors import StoreLockedError
from igcore.paths import default_db_path, replace_scrubbed
from igcore.pseudokey import move_out_of_meta
from igcore.storekey import KEY_ENV, KEY_FILE_ENV, UNSAFE_TEST_CRYPTO_ENV, StoreKeyError, db_key

SCHEMA_VERSION = 1

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

_CATALOG = "igcore_store"  # the encrypted file's name inside the in-memory database that attaches it


@dataclasses.dataclass
class _Attached:
    """One in-memory DuckDB database holding the encrypted store file, shared by the process's Stores on that
    file (DuckDB refuses to attach one file twice in a process) and closed with the last of them."""

    con: duckdb.DuckDBPyConnection
    read_only: bool
    users: int = 0


_ATTACHED: dict[str, _Attached] = {}
_ATTACHED_LOCK = threading.Lock()


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


LOOKUP_INDEX_MIN_EVENTS = 1_000_000  # below this, scanning the events for one user is already quick


class Store:
    """An open DuckDB store. Use as a context manager so the file lock is released promptly."""

    # DuckDB refuses a read-only and a read-write connection to one file in one process. A server whose threads
    # read while others write (the dashboard's sessions) sets this, so that every Store of the process opens
    # the file read-write and all connections share one database instance; reads stay reads.
    one_writer_per_process = False
    # Seconds a server keeps a plain store's database open after its last use (igcore.storekeep); 0: closed with
    # the last Store, as a command line process wants.
    keep_open_s = 0.0

    def __init__(self, path: str | Path | None = None, read_only: bool = False, *, key: str | None = None) -> None:
        """Open (or create) the store at ``path`` (default: ``$IGCORE_DB`` or data/igcore.duckdb).

        ``key`` encrypts it; None takes the key from the environment (:func:`db_key`), and without one the
        store is a plain DuckDB file as before."""
        self.path = Path(path) if path is not None else default_db_path()
        self._attached: str | None = None
        key = key if key is not None else db_key()
        shared = read_only and Store.one_writer_per_process and self.path.exists()
        self.read_only = read_only = read_only and not shared
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if key is not None:
            self.con = self._open_encrypted(key, read_only)
        else:
            try:
                self.con = duckdb.connect(str(self.path), read_only=read_only)
            except (duckdb.IOException, duckdb.CatalogException) as exc:
                raise _as_open_error(self.path, exc) from exc
        self.con.execute("SET TimeZone = 'UTC'")
        if not read_only and not shared:  # a read opened read-write only to share the instance writes nothing
            self._migrate()
        if Store.keep_open_s > 0 and key is None and not read_only:
            storekeep.keep(self.path, Store.keep_open_s)

    def _open_encrypted(self, key: str, read_only: bool) -> duckdb.DuckDBPyConnection:
        """A connection to the encrypted store: the file attached once per process with the key (DuckDB has
        no connect-time key), and this Store's own cursor on it."""
        name = str(self.path.resolve())
        with _ATTACHED_LOCK:
            attached = _ATTACHED.get(name)
            if attached is None:
                attached = _ATTACHED[name] = _Attached(_attach_encrypted(self.path, key, read_only), read_only)
            elif attached.read_only and not read_only:
                raise StoreLockedError(f"the store {self.path} is open read-only in this process; close it "
                                       "before writing to it")
            self.read_only = attached.read_only
            con = attached.con.cursor()
            attached.users += 1
            self._attached = name
        con.execute(f"USE {_CATALOG}")
        return con

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self.con.close()
        storekeep.touch(self.path)
        name, self._attached = self._attached, None
        if name is not None:
            with _ATTACHED_LOCK:
                attached = _ATTACHED.get(name)
                if attached is not None:
                    attached.users -= 1
                    if attached.users <= 0:
                        del _ATTACHED[name]
                        attached.con.close()  # releases the file lock, as closing a plain store does

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        self.con.execute(SCHEMA)
        self.con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [str(SCHEMA_VERSION)]
        )
        move_out_of_meta(self.con, self.path)  # the pseudonym key lives outside the store (igcore.pseudokey)

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

    def ensure_lookup_indexes(self, min_events: int = LOOKUP_INDEX_MIN_EVENTS) -> bool:
        """Indexes on the events' user ids and the catalogue's item ids, so one user's reads (explorer,
        interest graph: the user's events, their items' titles) look rows up instead of scanning a large log
        and its catalogue; built once the events table holds ``min_events`` events. Not part of the schema:
        keeping an index up to date roughly doubles a bulk insert's cost, so a store gets them when it is
        prepared for exploring (snapshots), after its first large import. True when they exist."""
        wanted = {"events_user": "main.events (user_id)", "items_id": "main.items (item_id)"}
        have = {name for (name,) in self.rows("SELECT index_name FROM duckdb_indexes()")}
        if have >= set(wanted):
            return True
        if self.read_only or (self.value("SELECT count(*) FROM main.events") or 0) < min_events:
            return False
        for name, on in wanted.items():
            if name not in have:
                self.con.execute(f"CREATE INDEX {name} ON {on}")  # names and columns from code
        return True

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


def compact(path: str | Path, key: str | None = None) -> None:
    """Rewrite the store with its live rows only and swap the copy in (scrubbing the old file): DuckDB keeps
    deleted rows' bytes in free blocks, and neither CHECKPOINT nor VACUUM clears them. ``key`` as for
    :class:`Store`. Refused while another connection of this process has the file open (replacing it under them
    would lose their writes); the file lock keeps other processes out."""
    path, key = Path(path), key if key is not None else db_key()
    fresh, wal = path.with_name(f".{path.name}.compact"), path.with_name(path.name + ".wal")
    busy = StoreLockedError(f"the store {path} is open elsewhere in this process; close it, then compact it")
    fresh.unlink(missing_ok=True)  # a copy an interrupted run left
    storekeep.release(path)  # this process's idle hold on the file, if any; live connections still refuse it
    if key is None:
        try:  # a config no Store uses: DuckDB refuses it while another connection holds the file here
            con = duckdb.connect(str(path), config={"threads": 1})
        except duckdb.ConnectionException:
            raise busy from None
        except duckdb.IOException as exc:
            raise _as_open_error(path, exc) from exc
        source, options = con.sql("SELECT current_database()").fetchall()[0][0], ""
    elif str(path.resolve()) in _ATTACHED:
        raise busy
    else:
        con, source, options = _attach_encrypted(path, key, False), _CATALOG, f" (ENCRYPTION_KEY {sql_text(key)})"
    try:
        con.execute(f"ATTACH {sql_text(str(fresh))} AS igcore_compact{options}")
        quoted = '"' + source.replace('"', '""') + '"'
        con.execute(f"COPY FROM DATABASE {quoted} TO igcore_compact")
        con.execute("DETACH igcore_compact")
    finally:
        con.close()
    replace_scrubbed(path, fresh)
    wal.unlink(missing_ok=True)  # the old file's, if any: its changes are in the copy


def sql_text(value: str) -> str:
    """A SQL string literal: DuckDB's ATTACH takes neither parameters nor placeholders for its path and key."""
    return "'" + value.replace("'", "''") + "'"


def _attach_encrypted(path: Path, key: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """An in-memory database with the encrypted store attached as ``igcore_store``; errors as sentences."""
    con = duckdb.connect()
    try:
        try:
            con.execute("LOAD httpfs")  # its OpenSSL ciphers replace DuckDB's read-only fallback
        except duckdb.Error:
            if os.environ.get(UNSAFE_TEST_CRYPTO_ENV) == "1":
                con.execute("SET force_mbedtls_unsafe = true")
            elif not read_only:
                raise StoreKeyError(
                    f"writing the encrypted store {path} needs DuckDB's httpfs extension (its OpenSSL ciphers; "
                    "DuckDB's built-in ones can only read encrypted files). Install it once, on a machine that "
                    "can reach DuckDB's extension repository: python -c \"import duckdb; "
                    "duckdb.sql('INSTALL httpfs')\" (or copy its file into ~/.duckdb/extensions/)") from None
        options = ("READ_ONLY, " if read_only else "") + f"ENCRYPTION_KEY {sql_text(key)}"
        try:
            con.execute(f"ATTACH {sql_text(str(path))} AS {_CATALOG} ({options})")
        except duckdb.Error as exc:
            raise _as_open_error(path, exc, keyed=True) from None  # from None: DuckDB's text stays out
        con.execute("SET temp_file_encryption = true")  # spilled intermediate results are encrypted too
    except BaseException:
        con.close()
        raise
    return con


def _as_open_error(path: Path, exc: duckdb.Error, keyed: bool = False) -> Exception:
    """The error a person sees for a store that will not open: a lock, a missing or wrong key."""
    text = str(exc)
    low = text.lower()
    if "without a key" in low:
        return StoreKeyError(f"the store {path} is encrypted: give its key in {KEY_ENV} or {KEY_FILE_ENV}")
    if "wrong encryption key" in low:
        return StoreKeyError(f"the key in {KEY_ENV} / {KEY_FILE_ENV} does not open the store {path} "
                             "(wrong key)")
    if "is not encrypted" in low:
        return StoreKeyError(f"the store {path} is not encrypted, but {KEY_ENV} / {KEY_FILE_ENV} is set: unset "
                             "it to open this store, or keep the encrypted store in another file")
    if isinstance(exc, duckdb.IOException):
        locked = _as_lock_error(path, exc)
        if locked is not exc or not keyed:
            return locked
    if keyed:  # never pass DuckDB's own text on as-is here: keep the message to what a person can act on
        return StoreKeyError(f"cannot open the encrypted store {path}: {type(exc).__name__}: "
                             f"{text.splitlines()[0] if text else ''}")
    return exc


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
