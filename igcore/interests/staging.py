"""Where a snapshot build's chunks wait until one transaction takes them all in.

A build computes its users in chunks; holding every chunk's rows in one open transaction until the end would
hold a large log's snapshots in memory. So chunks are staged first, and the transaction at the end only moves
them: on this process into tables of the store itself (``_staged_*``), each chunk committed on its own, so the
store's encryption covers them; on Ray as Parquet files in a folder of the event export, which every worker
reaches. Either way the staged rows go when the build ends, taken in or not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from igcore.store import Store

TABLE_ORDER = {  # each interest table and the order its rows are stored in (fast one-user reads)
    "interest_snapshots": "user_id, snapshot_no", "interest_weights": "user_id, snapshot_no",
    "interest_edges": "user_id, snapshot_no", "recommendation_snapshots": "user_id, snapshot_no",
    "interest_changes": "user_id, event_index"}
STAGED = "_staged_"  # prefix of the store's tables that hold a build's chunks


@dataclasses.dataclass(frozen=True)
class Staging:
    sink: Callable[[int, str, pd.DataFrame], None]  # (chunk number, table, the chunk's rows of it): staged
    take_in: Callable[[object], None]  # inside the build's transaction: every staged row into its table
    folder: Path | None = None  # the Parquet folder, for workers that stage there themselves


def insert_frame(con, table: str, frame: pd.DataFrame) -> None:
    con.register("_rows", frame)
    con.execute(f"INSERT INTO {table} ({', '.join(frame.columns)}) SELECT * FROM _rows")  # names from code
    con.unregister("_rows")


def parquet_sink(folder: Path, chunk: int, table: str, frame: pd.DataFrame) -> None:
    """A chunk's rows of a table as one Parquet file named by the chunk's number: chunks come in user order, so
    a table's files in name order hold its rows in ``TABLE_ORDER``."""
    path = folder / table / f"chunk-{chunk:06d}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


@contextlib.contextmanager
def staged(store: Store, export: Path | None = None) -> Iterator[Staging]:
    """Staging for one build: in the store's own tables, or with ``export`` in Parquet files under it."""
    if export is not None:
        with tempfile.TemporaryDirectory(prefix="_igcore-snapshots-", dir=export) as tmp:
            folder = Path(tmp)

            def from_files(con) -> None:
                for table in TABLE_ORDER:
                    files = sorted((folder / table).glob("*.parquet"))  # chunk order: rows in TABLE_ORDER
                    if files:  # by name: a chunk's all-null column has no type of its own
                        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?, union_by_name = "
                                    "true)", [[str(f) for f in files]])  # table names from code

            yield Staging(lambda chunk, table, frame: parquet_sink(folder, chunk, table, frame), from_files, folder)
        return

    def to_table(chunk: int, table: str, frame: pd.DataFrame) -> None:
        with store.transaction() as con:
            insert_frame(con, STAGED + table, frame)

    def from_tables(con) -> None:
        for table in TABLE_ORDER:  # rows in chunk order: TABLE_ORDER
            con.execute(f"INSERT INTO {table} SELECT * FROM {STAGED}{table}")  # names from code

    for table in TABLE_ORDER:
        store.con.execute(f"CREATE OR REPLACE TABLE {STAGED}{table} AS FROM {table} LIMIT 0")  # names from code
    try:
        yield Staging(to_table, from_tables)
    finally:
        for table in TABLE_ORDER:
            store.con.execute(f"DROP TABLE IF EXISTS {STAGED}{table}")  # names from code
