"""Side information from a store: what the catalogue knows about items (text vectors, cached by content hash, and
attribute tokens), by item id."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from igcore.encode.items import encode_items, item_attributes, uncached_count
from igcore.encode.text import DEFAULT_TEXT_MODEL, TextEncoder
from igcore.errors import IgcoreError
from igcore.progress import Progress, no_progress
from igcore.store import Store


@dataclasses.dataclass
class SideInfo:
    """What the catalogue knows about items, by item id: text vectors and attribute tokens."""

    text: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    attrs: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def _has_text(store: Store, with_text: bool) -> bool:
    return bool(with_text and store.value(
        "SELECT count(*) FROM items WHERE title IS NOT NULL OR description IS NOT NULL"))


def missing_text_vectors(store: Store, text_model: str = DEFAULT_TEXT_MODEL, with_text: bool = True) -> int:
    """How many catalogue texts the vector cache lacks (0 when text is not used); works read-only."""
    return uncached_count(store, text_model) if _has_text(store, with_text) else 0


def load_side_info(store: Store, device: str = "auto", text_model: str = DEFAULT_TEXT_MODEL,
                   with_text: bool = True, progress: Progress = no_progress) -> SideInfo:
    """Attribute tokens, and text vectors when asked, from an open store. Texts the cache lacks are encoded and
    cached, which needs a writable store: a read-only one with an incomplete cache gets a clear error."""
    attrs = item_attributes(store)
    if not _has_text(store, with_text):
        return SideInfo(text={}, attrs=attrs)
    missing = uncached_count(store, text_model)
    if missing and store.read_only:
        raise IgcoreError(f"{missing:,} item texts have no cached vector yet and the store is open read-only: "
                          "encode them first with the store writable (igcore train does)")
    vectors = encode_items(store, TextEncoder(text_model, device), progress=progress)[0]
    return SideInfo(text=dict(zip(vectors["item_id"], vectors["vector"])), attrs=attrs)


def side_info_of(store: Store, item_ids: list[str], text_model: str = DEFAULT_TEXT_MODEL, with_text: bool = True,
                 device: str = "cpu", all_attributes: bool = True) -> SideInfo:
    """:func:`load_side_info` with the text vectors of ``item_ids`` alone (items that joined a trained model)
    and every item's attributes (the trained items' attributes fix the token ids the joined ones get, where the
    checkpoint does not record them), or, without ``all_attributes``, those of ``item_ids`` alone. Their texts
    the cache lacks are encoded (loading the text model only then) on a writable store; on a read-only one they
    go without a text vector."""
    attrs = item_attributes(store, None if all_attributes else item_ids)
    if not item_ids or not _has_text(store, with_text):
        return SideInfo(text={}, attrs=attrs)
    vectors = encode_items(store, _LazyEncoder(text_model, device), item_ids, cached_only=store.read_only)[0]
    return SideInfo(text=dict(zip(vectors["item_id"], vectors["vector"])), attrs=attrs)


class _LazyEncoder:
    """A :class:`TextEncoder` made on the first ``encode``: loading the text model costs seconds, and a joined
    item's text is usually cached already."""

    def __init__(self, name: str, device: str) -> None:
        self.name, self.device, self._encoder = name, device, None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            self._encoder = TextEncoder(self.name, self.device)
        return self._encoder.encode(texts)


@functools.lru_cache(maxsize=4)
def side_info(store_path: Path, device: str = "auto", text_model: str = DEFAULT_TEXT_MODEL,
              with_text: bool = True) -> SideInfo:
    """:func:`load_side_info` by store path, cached for benchmark processes. Reads a read-only store when the
    text cache is complete, so parallel runs over one dataset do not contend for DuckDB's single writer."""
    with Store(store_path, read_only=True) as store:
        if not missing_text_vectors(store, text_model, with_text):
            return load_side_info(store, device, text_model, with_text)
    with Store(store_path) as store:
        return load_side_info(store, device, text_model, with_text)
