"""The interest tables in the store, and the small state that makes snapshot updates incremental.

Created on demand (``CREATE TABLE IF NOT EXISTS``), like the text-vector cache: the core store schema knows
nothing of interests. Every table is keyed by ``user_id`` first, and rows are written sorted by it, so DuckDB's
per-row-group min/max lets a one-user query skip almost all of a table.
"""

from __future__ import annotations

from igcore.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS interest_state (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS interest_nodes (
    interest VARCHAR NOT NULL,   -- kind:value, e.g. category:Running, cluster:07
    kind VARCHAR NOT NULL,       -- category | brand | cluster
    label VARCHAR NOT NULL,      -- readable words (cluster: c-TF-IDF over member titles, else attribute ids)
    n_items BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS interest_members (item_id VARCHAR NOT NULL, interest VARCHAR NOT NULL,
                                             kind VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS interest_item_vectors (item_id VARCHAR NOT NULL, vector FLOAT[] NOT NULL);
CREATE TABLE IF NOT EXISTS interest_snapshots (
    user_id VARCHAR NOT NULL,
    snapshot_no INTEGER NOT NULL,  -- 1, 2, ... per user
    snapshot_at TIMESTAMP NOT NULL, -- time of the last event it covers (UTC)
    n_events BIGINT NOT NULL,      -- the user's events it covers (the first n_events in time order)
    top_interest VARCHAR,          -- primary kind's largest share
    jsd DOUBLE,                    -- Jensen-Shannon divergence (base 2) from the previous snapshot's shares
    emerging VARCHAR[],            -- share rose by >= emerge_delta since the previous snapshot
    fading VARCHAR[]               -- share fell by >= emerge_delta
);
CREATE TABLE IF NOT EXISTS interest_weights (
    user_id VARCHAR NOT NULL,
    snapshot_no INTEGER NOT NULL,
    interest VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    weight DOUBLE NOT NULL,   -- observed: time-decayed, event-type-weighted evidence (0: predicted only)
    share DOUBLE NOT NULL,    -- weight / all weights of the same kind in this snapshot
    events BIGINT NOT NULL,   -- events in this interest so far (not decayed)
    predicted DOUBLE          -- the model's probability that the next item falls in this interest; NULL: no model
);
CREATE TABLE IF NOT EXISTS interest_edges (
    user_id VARCHAR NOT NULL,
    snapshot_no INTEGER NOT NULL,
    src VARCHAR NOT NULL,
    dst VARCHAR NOT NULL,      -- cooccurrence edges are undirected, stored with src < dst
    kind VARCHAR NOT NULL,     -- transition | cooccurrence
    weight DOUBLE NOT NULL     -- time-decayed count
);
CREATE TABLE IF NOT EXISTS recommendation_snapshots (
    user_id VARCHAR NOT NULL,
    snapshot_no INTEGER NOT NULL,
    scorer VARCHAR NOT NULL,   -- evidence (built in, every snapshot) | model (latest snapshot when built)
    rank INTEGER NOT NULL,
    item_id VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    prev_rank INTEGER          -- rank in the same scorer's previous list for this user; NULL: new entry
);
CREATE TABLE IF NOT EXISTS interest_changes (
    user_id VARCHAR NOT NULL,
    event_index BIGINT NOT NULL,  -- index of the first event after the change in the user's time order
    ts TIMESTAMP NOT NULL,
    interest VARCHAR NOT NULL,    -- the emerging interest
    faded VARCHAR,                -- the interest that lost most share across the change
    jsd DOUBLE NOT NULL
);
"""

SNAPSHOT_TABLES = ("interest_snapshots", "interest_weights", "interest_edges", "recommendation_snapshots")
ALL_TABLES = (*SNAPSHOT_TABLES, "interest_changes", "interest_nodes", "interest_members", "interest_item_vectors",
              "interest_state")


def ensure_schema(store: Store) -> None:
    store.con.execute(SCHEMA)


def has_tables(store: Store) -> bool:
    """Whether the store has interest tables at all (a read-only store may not)."""
    return bool(store.value(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'interest_state'"))


def read_state(store: Store) -> dict[str, str]:
    if not has_tables(store):
        return {}
    return dict(store.rows("SELECT key, value FROM interest_state"))


def write_state(con, values: dict[str, str]) -> None:
    for key, value in values.items():
        con.execute("INSERT OR REPLACE INTO interest_state VALUES (?, ?)", [key, value])
