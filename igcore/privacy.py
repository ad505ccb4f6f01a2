"""Pseudonyms: a stable stand-in for each user id, so analysts can name a shopper without the raw id.

A pseudonym is ``p-`` and 12 hex digits of HMAC-SHA256 over the user id, keyed with the store's own random key
(made when the store is created, kept in its ``meta`` table): one id always gets the same pseudonym in a store,
another store gives it another one, and without the key an id can be neither read back nor confirmed by
hashing guesses. (48 bits: collisions are negligible at millions of users, and a search lists every match.)
"""

from __future__ import annotations

import hashlib
import hmac

from igcore.errors import IgcoreError
from igcore.store import PSEUDONYM_KEY, Store

PREFIX = "p-"
DIGITS = 12


def pseudonym(key: str, user_id: str) -> str:
    digest = hmac.new(bytes.fromhex(key), str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:DIGITS]


def store_key(store: Store) -> str:
    """The store's pseudonym key (every store opened for writing since pseudonyms exist has one)."""
    key = store.value("SELECT value FROM meta WHERE key = ?", [PSEUDONYM_KEY])
    if key is None:
        raise IgcoreError("this store has no pseudonym key yet: open it once for writing (any igcore command)")
    return key


def looks_like_pseudonym(text: str) -> bool:
    """``p-`` and at least 4 hex digits: what a pseudonym search needs to mean one."""
    tail = text.lower().removeprefix(PREFIX)
    return text.lower().startswith(PREFIX) and 4 <= len(tail) <= DIGITS and all(c in "0123456789abcdef"
                                                                                  for c in tail)


def users_by_pseudonym(store: Store, text: str) -> list[str]:
    """The user ids whose pseudonym starts with ``text`` (case-insensitive), in id order."""
    key, wanted = store_key(store), text.lower()
    ids = [r[0] for r in store.rows("SELECT DISTINCT user_id FROM events ORDER BY 1")]
    return [u for u in ids if pseudonym(key, u).startswith(wanted)]
