"""Item vectors from catalogue text, cached in the store by content hash.

An item's text is built from whatever the catalogue has (title, category, brand, a description excerpt, a
price band) for items with a title or a description: category and brand alone are ids more often than words
(Beauty's are ``a12;a40``), and they reach the model as attribute embeddings instead. The cache key is
sha256(model name + text): an unchanged item is never encoded again, a changed or new item is encoded alone.
Items without text get no vector; the model falls back to id and attribute embeddings for them.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from igcore.progress import Progress, no_progress
from igcore.store import Store

if TYPE_CHECKING:
    from igcore.encode.text import TextEncoder

CACHE_SCHEMA = """CREATE TABLE IF NOT EXISTS item_text_embeddings (
    content_hash VARCHAR NOT NULL, model VARCHAR NOT NULL, vector FLOAT[] NOT NULL)"""
DESCRIPTION_CHARS = 300


def price_band(price: float | None) -> str | None:
    """A coarse, readable band: text models read "under 10" better than 9.49."""
    if price is None or (isinstance(price, float) and math.isnan(price)) or price <= 0:
        return None
    for limit in (10, 25, 50, 100, 250, 500, 1000):
        if price < limit:
            return f"price under {limit}"
    return "price 1000 or more"


def item_text(row: dict) -> str:
    """One line of text per item from the catalogue's fields; empty without a title or description."""
    if not any(_present(row.get(k)) for k in ("title", "description")):
        return ""
    brand, description = row.get("brand"), row.get("description")
    parts = [row.get("title"), row.get("category"), f"brand {brand}" if _present(brand) else None,
             str(description)[:DESCRIPTION_CHARS] if _present(description) else None, price_band(row.get("price"))]
    return ". ".join(str(p).strip() for p in parts if _present(p))


def _present(value: object) -> bool:
    return value is not None and str(value).strip() not in ("", "nan", "None")


def item_attributes(store: Store, item_ids: list[str] | None = None) -> dict[str, list[str]]:
    """Attribute tokens per item (of ``item_ids`` alone if given): category parts (split on ; , | > / .) and the
    brand, prefixed by kind."""
    out: dict[str, list[str]] = {}
    sql, params = "SELECT item_id, category, brand FROM items", []
    if item_ids is not None:
        sql, params = sql + " WHERE item_id IN (SELECT unnest(?::VARCHAR[]))", [list(item_ids)]
    for item_id, category, brand in store.rows(sql, params):
        tokens = [f"c:{t.strip()}" for t in re.split(r"[;,|>/.]", category or "") if t.strip()]
        if _present(brand):
            tokens.append(f"b:{str(brand).strip()}")
        if tokens:
            out[item_id] = tokens
    return out


def content_hash(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()


def _item_texts(store: Store, model: str, item_ids: list[str] | None) -> pd.DataFrame:
    """item_id, text and cache key of the catalogue's items that have text (or of ``item_ids``)."""
    items = store.df("SELECT item_id, title, category, brand, price, description FROM items ORDER BY item_id")
    if item_ids is not None:
        items = items[items["item_id"].isin(set(item_ids))]
    items["text"] = [item_text(r) for r in items.to_dict("records")]
    items = items[items["text"] != ""].copy()
    items["hash"] = [content_hash(model, t) for t in items["text"]]
    return items


def _cached(store: Store, model: str) -> pd.DataFrame:
    if not store.value("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'item_text_embeddings'"):
        return pd.DataFrame({"hash": [], "vector": []})
    return store.df("SELECT content_hash AS hash, vector FROM item_text_embeddings WHERE model = ?", [model])


def uncached_count(store: Store, model: str) -> int:
    """How many of the catalogue's texts have no cached vector for ``model`` (works on a read-only store)."""
    return int((~_item_texts(store, model, None)["hash"].isin(set(_cached(store, model)["hash"]))).sum())


ENCODE_BATCH, COMMIT_EVERY = 256, 8192  # texts per encoder call; texts encoded between two cache writes


def encode_items(store: Store, encoder: TextEncoder, item_ids: list[str] | None = None,
                 progress: Progress = no_progress, cached_only: bool = False,
                 commit_every: int = COMMIT_EVERY) -> tuple[pd.DataFrame, int]:
    """Vectors for the catalogue's items with text (or for ``item_ids``); returns (item_id -> vector frame,
    number of texts newly encoded). New vectors go to the cache every ``commit_every`` texts, each part in its
    own transaction, so an encoding stopped part-way (a large catalogue takes long on a CPU) keeps what it did
    and the next run encodes only the rest (the store must be writable when something is new); with
    ``cached_only``, items whose text is not cached are left out."""
    items = _item_texts(store, encoder.name, item_ids)
    cached = _cached(store, encoder.name)
    known = set(cached["hash"])
    if cached_only:
        items = items[items["hash"].isin(known)]
    todo = items[~items["hash"].isin(known)].drop_duplicates("hash")
    parts = [cached]
    for lo in range(0, len(todo), commit_every):
        part = todo.iloc[lo:lo + commit_every]
        vectors = []
        for start in range(0, len(part), ENCODE_BATCH):
            vectors.append(encoder.encode(part["text"].iloc[start:start + ENCODE_BATCH].tolist()))
            progress("encode", min(lo + start + ENCODE_BATCH, len(todo)), len(todo), {})
        fresh = pd.DataFrame({"content_hash": part["hash"].to_numpy(), "model": encoder.name,
                              "vector": list(np.concatenate(vectors))})
        with store.transaction() as con:
            con.execute(CACHE_SCHEMA)
            con.register("fresh_vectors", fresh)
            con.execute("INSERT INTO item_text_embeddings SELECT content_hash, model, vector::FLOAT[] "
                        "FROM fresh_vectors")
            con.unregister("fresh_vectors")
        parts.append(fresh.rename(columns={"content_hash": "hash"})[["hash", "vector"]])
    cached = pd.concat(parts) if len(parts) > 1 else cached
    lookup = dict(zip(cached["hash"], cached["vector"]))
    out = pd.DataFrame({"item_id": items["item_id"].to_numpy(),
                        "vector": [np.asarray(lookup[h], dtype=np.float32) for h in items["hash"]]})
    return out, len(todo)
