"""Forget a user: every trace of one user id leaves the store, the serving state and the checkpoint's records.

What goes, in one store transaction:

- every row of every table with a ``user_id`` column that names the user: the events and all per-user interest
  tables (snapshots, weights, edges, recommendation lists, change points), and any per-user table added later;
- quarantined rows that carry the id (a whole field of the raw line, or in the reason), so forgetting ``u1``
  leaves ``u10``'s rows alone; a rejected line is not parsed, so one whose item or value equals the id goes too
  (the plan counts them before the confirmation);
- the id inside the free text the store keeps about imports (file names, notes), as a whole word: replaced by
  ``[forgotten user]``, the rows kept. Any other text column holding exactly the id (an item id that happens to
  be equal, a state value) is left as it is and reported;
- one row in ``forget_log``: when, by which role, how many rows per table; never the id.

Then the file is compacted (:func:`igcore.store.compact`): DuckDB keeps deleted rows in free blocks, so the
store is copied with its live rows only and swapped in, and the old file is overwritten before it is freed.

Outside the store: the serving and online states (a query vector and a memory per user, and every other user's
vector computed from a graph and item memories the user's events fed) are deleted, not edited, and rebuilt by
replaying the remaining events. The checkpoint's ``model.json`` loses the id from its user list. That renumbers
the users after it, which is consistent with the weights because the network has no per-user parameter: a user
is their events (sequence, graph, memory). A user who joined the model after training is named only in the
online state, which goes as a whole. The rebuild restores the network with the new list and would fail on any
mismatch; it then says so and the serving state stays deleted, so ``recommend`` replays. The replayed memory
holds nothing of the user from then on. The weights were trained on the user's events and keep what they
learned from them until the next training (``retrain``). The Parquet folders the store exported its events to
(:mod:`igcore.eventlog`) lose the user's events: each day file that holds them is rewritten without them. Other
files written outside the store and checkpoint (``--html`` exports, downloads) are not reached.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import duckdb

from igcore.errors import IgcoreError, StoreLockedError
from igcore.eventlog import forget_in_exports
from igcore.paths import replace_scrubbed, scrub
from igcore.pipeline.checkpoint import META, has_checkpoint, read_meta
from igcore.pipeline.run import checkpoint_dir, refresh, train
from igcore.progress import Progress, no_progress
from igcore.recommend.serving import SERVING
from igcore.store import Store, compact
from igcore.update.saved import ONLINE, joined_ids

FORGOTTEN = "[forgotten user]"
NOT_NEEDED = "not needed"
# Free text that may quote an id (an upload named after a user, a note quoting a line): table -> columns. The
# id is replaced there, the rows stay. ``meta`` and ``interest_state`` hold only what code writes (versions,
# keys, event ids, settings): editing them would break the store when an id equals such a value (``1``).
REDACT: Mapping[str, tuple[str, ...]] = {"imports": ("file_name", "notes")}
QUARANTINE_TEXT = ("raw_line", "reason")
AUDIT_SCHEMA = """CREATE TABLE IF NOT EXISTS forget_log (
    forgotten_at TIMESTAMP NOT NULL,  -- UTC
    by_role VARCHAR NOT NULL,         -- the dashboard role (analyst) or cli
    rows_removed JSON NOT NULL,       -- table -> rows deleted
    rows_redacted JSON NOT NULL,      -- table.column -> rows whose text had the id replaced
    compacted BOOLEAN NOT NULL        -- whether the store file has been rewritten since
)"""


@dataclasses.dataclass(frozen=True)
class ForgetPlan:
    """What forgetting a user removes, counted before anything changes. It holds no id, so it can be shown,
    logged and stored as it is."""

    removed: dict[str, int]  # table -> rows to delete
    redacted: dict[str, int]  # table.column -> rows whose text quotes the id
    same_text: dict[str, int]  # table.column -> rows holding the same text as another kind of id (kept)

    @property
    def known(self) -> bool:
        return any(self.removed.values()) or any(self.redacted.values())

    def summary(self) -> str:
        if not self.known:
            return "no such user in the store: nothing to forget"
        parts = [f"{n:,} {t}" for t, n in self.removed.items() if n]
        parts += [f"{n:,} {c} (id replaced)" for c, n in self.redacted.items() if n]
        return "rows: " + ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class ForgetReport:
    """What a forget did, one line a step (no id in any line)."""

    plan: ForgetPlan
    store: str
    compacted: str
    model: str
    weights: str
    exports: str = "no Parquet exports"

    def lines(self) -> list[str]:
        if not self.plan.known and self.compacted == NOT_NEEDED:
            return [self.store]
        kept = [f"kept: {n:,} rows of {c} hold the same text as another kind of id (not this user's)"
                for c, n in self.plan.same_text.items() if n]
        return [self.store, f"compaction: {self.compacted}", f"exports: {self.exports}", *kept, f"model: {self.model}",
                f"weights: {self.weights}", "online memory: its saved state was deleted and replayed from the "
                "events, which no longer hold this user's"]


def _token(user_id: str, field: bool) -> re.Pattern[str]:
    """The id as a whole ``field`` of a raw CSV line (between separators, quotes, spaces or the line's ends), or
    else as a whole word of free text (no letter, digit or _ on either side), never inside a longer id."""
    if field:
        return re.compile(rf"(?:^|(?<=[,;|\t\s\"'])){re.escape(user_id)}(?=$|[,;|\t\s\"'])")
    return re.compile(rf"(?<!\w){re.escape(user_id)}(?!\w)")


def _spellings(user_id: str) -> list[str]:
    """The id as text and as JSON writes it inside a string (import notes are JSON)."""
    return sorted({user_id, json.dumps(user_id)[1:-1]})


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """The store's own tables: name -> column -> type."""
    rows = con.execute("SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
                       "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
                       "WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database() "
                       "AND c.table_schema = current_schema() ORDER BY c.table_name, c.ordinal_position").fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        out.setdefault(table, {})[column] = kind
    return out


def _quoting(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], user_id: str,
             field: bool) -> list[tuple[int, str, str]]:
    """(rowid, column, text) of the rows whose ``columns`` quote the id (:func:`_token`)."""
    spellings, found = _spellings(user_id), []
    tokens = [_token(s, field) for s in spellings]
    for column in columns:
        text = f"{_ident(column)}::VARCHAR"
        where = " OR ".join(f"contains({text}, ?)" for _ in spellings)
        for rowid, value in con.execute(f"SELECT rowid, {text} FROM {_ident(table)} WHERE {where}",
                                        spellings).fetchall():
            if any(token.search(value) for token in tokens):
                found.append((rowid, column, value))
    return found


def _survey(con: duckdb.DuckDBPyConnection, user_id: str) -> tuple[ForgetPlan, dict[str, list]]:
    """The plan, and the rows each step touches (quarantine and redaction rows by rowid)."""
    tables = _tables(con)
    removed = {t: int(con.execute(f"SELECT count(*) FROM {_ident(t)} WHERE user_id = ?", [user_id]).fetchall()[0][0])
               for t, cols in tables.items() if "user_id" in cols}
    rows: dict[str, list] = {}
    if "quarantine" in tables:
        rows["quarantine"] = _quoting(con, "quarantine", QUARANTINE_TEXT, user_id, field=True)
        removed["quarantine"] = len({r for r, _, _ in rows["quarantine"]})
    redacted = {}
    for table, columns in REDACT.items():
        if table in tables:
            rows[table] = _quoting(con, table, tuple(c for c in columns if c in tables[table]), user_id, False)
            for column in columns:
                redacted[f"{table}.{column}"] = sum(1 for _, c, _ in rows[table] if c == column)
    handled = {("quarantine", c) for c in QUARANTINE_TEXT} | {(t, c) for t, cs in REDACT.items() for c in cs}
    same = {f"{t}.{c}": int(con.execute(f"SELECT count(*) FROM {_ident(t)} WHERE {_ident(c)} = ?",
                                        [user_id]).fetchall()[0][0])
            for t, cols in tables.items() for c, kind in cols.items()
            if kind == "VARCHAR" and c != "user_id" and (t, c) not in handled}
    return ForgetPlan(removed, redacted, same), rows


def plan_forget(store: Store, user_id: str) -> ForgetPlan:
    """What :func:`forget` would remove, changing nothing (the confirmation shows it)."""
    return _survey(store.con, user_id)[0]


def forget(db_path: Path, user_id: str, role: str, model_dir: Path | None = None, retrain: bool = False,
           progress: Progress = no_progress) -> ForgetReport:
    """Remove the user from the store at ``db_path`` in one transaction, compact the file, then clear them
    from the checkpoint (``model_dir``, default: the store's) and its serving state; ``retrain`` trains again
    with the checkpoint's config so the weights no longer reflect the user. ``role`` goes to the audit row.
    An unknown user changes nothing (an earlier forget whose compaction was refused is compacted now)."""
    db_path = Path(db_path)
    model_dir = Path(model_dir or checkpoint_dir(db_path))
    progress("forget", 0, 3, {})
    with Store(db_path) as store:
        with store.transaction() as con:
            plan, rows = _survey(con, user_id)
            if plan.known:
                _remove(con, plan, rows, user_id, role)
        pending = plan.known or _pending_compaction(store)
    if not pending:
        return ForgetReport(plan, plan.summary() + "; the store is unchanged", NOT_NEEDED, "unchanged",
                            "unchanged")
    progress("forget", 1, 3, {})
    if plan.known:
        with Store(db_path, read_only=True) as store:
            exports = forget_in_exports(store, user_id)
    compacted = _compact(db_path)
    progress("forget", 2, 3, {})
    model, weights = _forget_in_checkpoint(db_path, model_dir, user_id, retrain, progress) if plan.known else \
        ("unchanged", "unchanged")
    progress("forget", 3, 3, {})
    store_line = "removed " + plan.summary()[len("rows: "):] if plan.known else \
        "no such user in the store; an earlier forget's compaction was pending"
    return ForgetReport(plan, store_line, compacted, model, weights, exports if plan.known else "unchanged")


def _remove(con: duckdb.DuckDBPyConnection, plan: ForgetPlan, rows: dict[str, list], user_id: str,
            role: str) -> None:
    for table, n in plan.removed.items():
        if n and table != "quarantine":
            con.execute(f"DELETE FROM {_ident(table)} WHERE user_id = ?", [user_id])
    gone = sorted({r for r, _, _ in rows.get("quarantine", [])})
    if gone:
        con.execute("DELETE FROM quarantine WHERE list_contains(?::BIGINT[], rowid)", [gone])
    for table in REDACT:
        for rowid, column, value in rows.get(table, []):
            for spelling in _spellings(user_id):
                value = _token(spelling, field=False).sub(FORGOTTEN, value)
            con.execute(f"UPDATE {_ident(table)} SET {_ident(column)} = ? WHERE rowid = ?", [value, rowid])
    con.execute(AUDIT_SCHEMA)
    con.execute("INSERT INTO forget_log VALUES (?, ?, ?, ?, false)",
                [dt.datetime.now(dt.UTC).replace(tzinfo=None), role, json.dumps(plan.removed),
                 json.dumps(plan.redacted)])


def _pending_compaction(store: Store) -> bool:
    has_log = store.value("SELECT count(*) FROM information_schema.tables WHERE table_name = 'forget_log'")
    return bool(has_log) and bool(store.value("SELECT count(*) FROM forget_log WHERE NOT compacted"))


def _compact(db_path: Path) -> str:
    try:
        compact(db_path)
    except StoreLockedError as exc:
        return (f"not yet ({exc}): the deleted rows' bytes stay in the file's free blocks until it is compacted; "
                "run `igcore forget` again (any id) once nothing else has the store open")
    with Store(db_path) as store:
        store.con.execute("UPDATE forget_log SET compacted = true WHERE NOT compacted")
    return "the store file was rewritten with its live rows only and the old file overwritten"


def _forget_in_checkpoint(db_path: Path, model_dir: Path, user_id: str, retrain: bool,
                          progress: Progress) -> tuple[str, str]:
    """The checkpoint's lines: its user list and serving state, then the weights (retrained or not)."""
    if not has_checkpoint(model_dir):
        return "no trained model", "none"
    meta_path, serving = model_dir / META, model_dir / SERVING
    record = json.loads(meta_path.read_text())
    old = model_dir.with_name(f".{model_dir.name}.old")  # what an interrupted save left
    if old.is_dir():
        for f in (p for p in old.rglob("*") if p.is_file()):
            scrub(f)
        shutil.rmtree(old, ignore_errors=True)
    trained = user_id in record.get("user_ids", [])
    if not trained and user_id not in joined_ids(model_dir / ONLINE)[0]:
        return "the model was not trained with this user: unchanged", "none of this user's events were trained on"
    for derived in (serving, model_dir / ONLINE):  # each holds a vector per user, made from their events
        if derived.exists():
            scrub(derived)
    weights = "none of this user's events were trained on"  # joined after training: named in the online state
    lead = "the user joined the model after training"
    if trained:
        lead = "user removed from its user list"
        record["user_ids"] = [u for u in record["user_ids"] if u != user_id]
        fd, tmp = tempfile.mkstemp(prefix=f".{META}-", dir=model_dir)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(record, indent=1, default=str))
        replace_scrubbed(meta_path, Path(tmp))
        if retrain:
            try:
                config, _ = read_meta(model_dir)
                with Store(db_path) as store:
                    train(store, config, model_dir, progress)
            except IgcoreError as exc:
                return f"{lead}; serving state deleted", f"not retrained: {exc}"
            return "retrained on the remaining events (new checkpoint and serving state)", \
                "retrained: they no longer reflect this user"
        weights = ("trained with this user's events, they keep what they learned from them until the next "
                   "training: run `igcore train` (or forget with --retrain)")
    try:
        with Store(db_path, read_only=True) as store:
            refresh(store, model_dir)
    except Exception as exc:  # noqa: BLE001 - whatever stops the rebuild, the deleted serving state is safe
        return (f"{lead}; serving state deleted, not rebuilt ({exc}): recommendations "
                "replay the events until the model is retrained"), weights
    return f"{lead}; serving state rebuilt from the remaining events", weights

