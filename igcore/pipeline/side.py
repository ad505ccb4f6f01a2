"""Side information for the pipeline from a store: text vectors (cached by content hash) and attributes."""

from __future__ import annotations

import functools
from pathlib import Path

from igcore.encode.items import encode_items, item_attributes, uncached_count
from igcore.encode.text import DEFAULT_TEXT_MODEL, TextEncoder
from igcore.pipeline.model import SideInfo
from igcore.store import Store


@functools.lru_cache(maxsize=4)
def side_info(store_path: Path, device: str = "auto", text_model: str = DEFAULT_TEXT_MODEL,
              with_text: bool = True) -> SideInfo:
    """Attribute tokens, and text vectors when asked. Reads a read-only store when the text cache is complete,
    so parallel runs over one dataset do not contend for DuckDB's single writer; encodes what the cache lacks
    (then writes it) otherwise."""
    vectors = None
    with Store(store_path, read_only=True) as store:
        has_text = with_text and store.value(
            "SELECT count(*) FROM items WHERE title IS NOT NULL OR description IS NOT NULL")
        attrs = item_attributes(store)
        encoder = TextEncoder(text_model, device) if has_text else None
        if has_text and uncached_count(store, encoder.name) == 0:
            vectors = encode_items(store, encoder)[0]
    if has_text and vectors is None:
        with Store(store_path) as store:
            vectors = encode_items(store, encoder)[0]
    text = dict(zip(vectors["item_id"], vectors["vector"])) if vectors is not None else {}
    return SideInfo(text=text, attrs=attrs)
