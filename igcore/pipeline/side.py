"""Side information for the pipeline from a store: text vectors (cached by content hash) and attributes."""

from __future__ import annotations

import functools
from pathlib import Path

from igcore.encode.items import encode_items, item_attributes
from igcore.encode.text import DEFAULT_TEXT_MODEL, TextEncoder
from igcore.pipeline.model import SideInfo
from igcore.store import Store


@functools.lru_cache(maxsize=4)
def side_info(store_path: Path, device: str = "auto", text_model: str = DEFAULT_TEXT_MODEL,
              with_text: bool = True) -> SideInfo:
    """Attribute tokens, and text vectors when asked (encoding what the cache lacks, then writing it)."""
    with Store(store_path) as store:
        has_text = with_text and store.value(
            "SELECT count(*) FROM items WHERE title IS NOT NULL OR description IS NOT NULL")
        vectors = encode_items(store, TextEncoder(text_model, device))[0] if has_text else None
        attrs = item_attributes(store)
    text = dict(zip(vectors["item_id"], vectors["vector"])) if vectors is not None else {}
    return SideInfo(text=text, attrs=attrs)
