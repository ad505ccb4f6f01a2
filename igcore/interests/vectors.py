"""Item vectors for clustering interests, for the built-in evidence scorer and for explanations.

Three sources, picked by ``InterestConfig.item_vectors``: a trained model's item vectors; the text encoder's
vectors (``text``: encoded and cached by :mod:`igcore.encode.items`; ``auto`` uses them only when the cache
already holds every catalogue text, so nothing heavy runs unasked); or ``tokens``: TF-IDF over attribute tokens
(category parts, brand) and title words, reduced to at most 64 dimensions along the main directions of token
co-occurrence, so that related attribute ids (Beauty's ``a17`` and ``a28``) end up near each other.
"""

from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np
import pandas as pd

from igcore.encode import DEFAULT_TEXT_MODEL
from igcore.encode.items import content_hash, item_attributes, item_text
from igcore.errors import IgcoreError
from igcore.interests.config import InterestConfig
from igcore.store import Store

TOKEN_DIM = 64
_WORD = re.compile(r"[a-z][a-z'-]+")
STOP_WORDS = frozenset("a an and by for in of on or our part the to with range".split())


@dataclasses.dataclass(frozen=True)
class ItemVectors:
    """Unit-length rows, one per item id. ``candidates``: the rows the evidence scorer ranks (None: all of them);
    see :func:`igcore.interests.scoring.candidate_pool`."""

    item_ids: np.ndarray  # object
    matrix: np.ndarray  # float32 (n, d)
    source: str
    candidates: np.ndarray | None = None  # int64 rows, ascending

    def candidate_rows(self) -> np.ndarray:
        return np.arange(len(self.item_ids)) if self.candidates is None else self.candidates

    def positions(self, item_ids: np.ndarray) -> np.ndarray:
        """Row of each item id, -1 for items without a vector."""
        return self._index.get_indexer(np.asarray(item_ids, dtype=object))

    @functools.cached_property
    def _index(self) -> pd.Index:
        return pd.Index(self.item_ids, dtype=object)


def normalised(item_ids: np.ndarray, matrix: np.ndarray, source: str) -> ItemVectors:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    keep = norms > 0
    return ItemVectors(np.asarray(item_ids, dtype=object)[keep], matrix[keep] / norms[keep, None], source)


def title_words(title: object) -> list[str]:
    """Lower-case words of a title, without model numbers (anything with a digit) and stop words."""
    if title is None or (isinstance(title, float) and np.isnan(title)):
        return []
    return [w for w in _WORD.findall(str(title).lower()) if w not in STOP_WORDS]


def catalogue_tokens(store: Store) -> tuple[np.ndarray, list[list[str]], list[list[str]]]:
    """(item ids, attribute tokens c:/b:, title words w:) for every catalogue item."""
    items = store.df("SELECT item_id, title FROM items ORDER BY item_id")
    attrs = item_attributes(store)
    ids = items["item_id"].to_numpy(dtype=object)
    return ids, [attrs.get(i, []) for i in ids], [[f"w:{w}" for w in title_words(t)] for t in items["title"]]


def token_vectors(item_ids: np.ndarray, docs: list[list[str]], dim: int = TOKEN_DIM, seed: int = 0) -> ItemVectors:
    """Binary TF-IDF rows projected on the top ``dim`` eigenvectors of the token co-occurrence (Gram) matrix
    (a truncated SVD); catalogues with over 2,048 distinct tokens use a seeded random projection instead."""
    pairs = pd.DataFrame({"item": np.repeat(np.arange(len(docs)), [len(d) for d in docs]),
                          "token": [t for d in docs for t in d]}).drop_duplicates()
    if pairs.empty:
        return normalised(np.zeros(0, dtype=object), np.zeros((0, 1)), "tokens")
    codes, vocab = pd.factorize(pairs["token"])
    item = pairs["item"].to_numpy()
    df = np.bincount(codes, minlength=len(vocab))
    value = (np.log(len(docs) / df) + 1.0)[codes]
    value /= np.sqrt(np.bincount(item, weights=value**2, minlength=len(docs)))[item]
    if len(vocab) <= 2048:
        dense = np.zeros((len(docs), len(vocab)), dtype=np.float32) if len(docs) * len(vocab) <= 5e7 else None
        if dense is not None:
            dense[item, codes] = value
            gram = dense.T @ dense
        else:
            gram = np.zeros((len(vocab), len(vocab)), dtype=np.float64)
            for lo in range(0, len(docs), 4096):
                block = np.zeros((min(4096, len(docs) - lo), len(vocab)), dtype=np.float32)
                sel = (item >= lo) & (item < lo + 4096)
                block[item[sel] - lo, codes[sel]] = value[sel]
                gram += block.T @ block
        _, eigvecs = np.linalg.eigh(gram.astype(np.float64))
        basis = eigvecs[:, ::-1][:, :min(dim, len(vocab))].astype(np.float32)
    else:
        basis = np.random.default_rng(seed).standard_normal((len(vocab), dim)).astype(np.float32)
    out = np.zeros((len(docs), basis.shape[1]), dtype=np.float32)
    for lo in range(0, len(item), 200_000):
        np.add.at(out, item[lo:lo + 200_000], value[lo:lo + 200_000, None] * basis[codes[lo:lo + 200_000]])
    return normalised(np.asarray(item_ids, dtype=object), out, "tokens")


def cached_text_vectors(store: Store, model: str = DEFAULT_TEXT_MODEL) -> ItemVectors | None:
    """The text encoder's vectors when the cache holds every catalogue text already; else None."""
    if not store.value("SELECT count(*) FROM information_schema.tables WHERE table_name = 'item_text_embeddings'"):
        return None
    items = store.df("SELECT item_id, title, category, brand, price, description FROM items")
    texts = [item_text(r) for r in items.to_dict("records")]
    has = [i for i, t in enumerate(texts) if t]
    if not has:
        return None
    hashes = pd.Series([content_hash(model, texts[i]) for i in has])
    cached = store.df("SELECT content_hash, vector FROM item_text_embeddings WHERE model = ?", [model])
    lookup = dict(zip(cached["content_hash"], cached["vector"]))
    if not hashes.isin(lookup.keys()).all():
        return None
    return normalised(items["item_id"].to_numpy(dtype=object)[has], np.stack([lookup[h] for h in hashes]), "text")


def encoded_text_vectors(store: Store) -> ItemVectors:
    """Encode the catalogue's text (what the cache lacks) with the default text model."""
    from igcore.encode.items import encode_items
    from igcore.encode.text import TextEncoder

    frame, _ = encode_items(store, TextEncoder(DEFAULT_TEXT_MODEL, "cpu"))
    if frame.empty:
        raise IgcoreError("item_vectors=text: the catalogue has no titles or descriptions to encode")
    return normalised(frame["item_id"].to_numpy(dtype=object), np.stack(frame["vector"].to_list()), "text")


def item_vectors(store: Store, config: InterestConfig, model_vectors: ItemVectors | None = None) -> ItemVectors:
    """The configured vectors (see the module docstring for ``auto``)."""
    choice = config.item_vectors
    if choice == "model" or (choice == "auto" and model_vectors is not None):
        if model_vectors is None:
            raise IgcoreError("item_vectors=model needs a trained model (pass --model)")
        return model_vectors
    if choice == "text":
        return encoded_text_vectors(store)
    if choice == "auto":
        cached = cached_text_vectors(store)
        if cached is not None:
            return cached
    ids, attrs, words = catalogue_tokens(store)
    return token_vectors(ids, [a + w for a, w in zip(attrs, words)], seed=config.seed)
