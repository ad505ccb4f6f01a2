"""Pseudonyms: stand-ins for user ids, keyed HMAC-SHA256 over the id with the store's pseudonym key.

The key is random, one per store, and kept outside the store file (:mod:`igcore.pseudokey`): one id always gets
the same pseudonym in a store, another store gives it another one, and without the key an id can be neither
read back nor confirmed by hashing guesses. Two lengths of the one HMAC:

- display pseudonyms, ``p-`` and 12 hex digits: a short name for a user of a store that keeps raw ids, for
  search and for saying aloud (a search lists every match, so rare collisions of the short form do no harm);
- ingest pseudonyms, ``p-`` and 32 hex digits (128 bits, so distinct ids never share one in practice): in a
  store that pseudonymises (:func:`enable`, ``--pseudonymize``) they replace the user id in the importer's SQL
  before any row is written, so events, quarantined lines, snapshots, checkpoints and exports only ever hold
  them (an id that already is a stored user's pseudonym is kept, so events added for a stored user stay
  theirs). A display pseudonym is the head of the ingest pseudonym of the same id, so both name a user alike.

With the key file present, an analyst's raw id maps to its pseudonym (:func:`resolve_user`, the explorer's
search); without it nothing maps back.
"""

from __future__ import annotations

import hashlib
import hmac

from igcore.errors import IgcoreError
from igcore.pseudokey import LEGACY_META_KEY, create_key, key_path, read_key, replace_key
from igcore.store import Store
from igcore.storekey import StoreKeyError

PREFIX = "p-"
DIGITS = 12
INGEST_DIGITS = 32
MODE = "hmac-sha256-128"  # the value of the store setting below when ingest pseudonymises
MODE_META_KEY = "pseudonymize"
CHECK_META_KEY = "pseudonym_key_check"  # tells this store's key file from another one; reveals nothing of the key
_CHECK_MESSAGE = b"igcore pseudonym key check"
_BLOCK = 64  # SHA-256's block size: HMAC pads its key to it


def _digest(key: str, user_id: str) -> str:
    return hmac.new(bytes.fromhex(key), str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonym(key: str, user_id: str) -> str:
    """The display pseudonym of ``user_id``."""
    return PREFIX + _digest(key, user_id)[:DIGITS]


def ingest_pseudonym(key: str, user_id: str) -> str:
    """The pseudonym a pseudonymising store keeps instead of ``user_id``."""
    return PREFIX + _digest(key, user_id)[:INGEST_DIGITS]


def pseudonym_sql(expr: str, key: str) -> tuple[str, list[str]]:
    """SQL computing :func:`ingest_pseudonym` of the VARCHAR ``expr`` (SQL from code, never user text; NULL stays
    NULL), and its two parameters. HMAC spelled out over DuckDB's sha256, so that the importer hashes a whole
    file in one vectorised pass: H((K ^ opad) || H((K ^ ipad) || id))."""
    padded = bytes.fromhex(key).ljust(_BLOCK, b"\0")
    inner, outer = bytes(b ^ 0x36 for b in padded).hex(), bytes(b ^ 0x5C for b in padded).hex()
    sql = f"'{PREFIX}' || left(sha256(unhex(?) || unhex(sha256(unhex(?) || encode({expr})))), {INGEST_DIGITS})"
    return sql, [outer, inner]


def ingest_user_sql(expr: str, key: str) -> tuple[str, list[str]]:
    """SQL for the user id a pseudonymising import keeps for the VARCHAR ``expr``, and its parameters: its
    pseudonym, except for an id that already is one of the store's users' pseudonyms, which stays as it is (the
    Live page adds events for a stored user, and a file may name users as the store's exports do)."""
    hashed, params = pseudonym_sql(expr, key)
    known = (f"regexp_full_match({expr}, '{PREFIX}[0-9a-f]{{{INGEST_DIGITS}}}') "
             f"AND {expr} IN (SELECT DISTINCT user_id FROM events)")
    return f"CASE WHEN {known} THEN {expr} ELSE {hashed} END", params


def looks_like_pseudonym(text: str) -> bool:
    """``p-`` and at least 4 hex digits: what a pseudonym search needs to mean one."""
    tail = text.lower().removeprefix(PREFIX)
    return text.lower().startswith(PREFIX) and 4 <= len(tail) <= DIGITS and all(c in "0123456789abcdef"
                                                                                  for c in tail)


# --- the store's setting and key -----------------------------------------------------------------------------
def is_pseudonymized(store: Store) -> bool:
    """Whether the store replaces user ids by ingest pseudonyms on every import."""
    return store.value("SELECT value FROM meta WHERE key = ?", [MODE_META_KEY]) == MODE


def _check(key: str) -> str:
    return hmac.new(bytes.fromhex(key), _CHECK_MESSAGE, hashlib.sha256).hexdigest()[:16]


def store_key(store: Store) -> str:
    """The store's pseudonym key, from its key file. A store keeping raw ids gets a key file drawn when it has
    none (its display pseudonyms then change, and nothing stored depends on them); a pseudonymising store's
    key must be the one its ids were made with, or later imports would give a user a second pseudonym."""
    path = key_path(store.path)
    key = read_key(path)
    if is_pseudonymized(store):
        if key is None:
            raise StoreKeyError(f"this store pseudonymises user ids, but its key file {path} is missing: restore "
                                "it (imports without it would give known users new pseudonyms), or start a new "
                                "store and re-import (README, 'Pseudonyms')")
        if _check(key) != store.value("SELECT value FROM meta WHERE key = ?", [CHECK_META_KEY]):
            raise StoreKeyError(f"the key file {path} is not the key this store's pseudonyms were made with")
        return key
    if key is None:  # a store not yet opened for writing may still hold its key in meta
        key = store.value("SELECT value FROM meta WHERE key = ?", [LEGACY_META_KEY]) or create_key(path)
    return key


def enable(store: Store) -> bool:
    """Make the store pseudonymise user ids from now on, with a fresh key file; whether that changed anything.
    Refused for a store that already holds events: their raw ids would stay beside the pseudonyms."""
    if is_pseudonymized(store):
        return False
    if store.value("SELECT count(*) FROM events"):
        raise IgcoreError(f"the store {store.path} already holds raw user ids: pseudonymisation starts with an "
                          "empty store; import into a new one (--db NEW) with --pseudonymize")
    key = replace_key(key_path(store.path))  # never one that was ever in the store file (a legacy meta key)
    with store.transaction() as con:
        for name, value in ((MODE_META_KEY, MODE), (CHECK_META_KEY, _check(key))):
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [name, value])
    return True


# --- finding users ---------------------------------------------------------------------------------------------
def users_by_pseudonym(store: Store, text: str) -> list[str]:
    """The user ids whose display pseudonym starts with ``text`` (case-insensitive), in id order."""
    key, wanted = store_key(store), text.lower()
    ids = [r[0] for r in store.rows("SELECT DISTINCT user_id FROM events ORDER BY 1")]
    return [u for u in ids if pseudonym(key, u).startswith(wanted)]


def ids_for_search(store: Store, text: str) -> list[str]:
    """Stored ids a search for ``text`` means beyond the ids containing it: in a store of raw ids, those whose
    pseudonym starts with ``text``; in a pseudonymising one, the pseudonym of ``text`` read as a raw id (when
    the key file is at hand; without it nothing maps back)."""
    if not is_pseudonymized(store):
        return users_by_pseudonym(store, text) if looks_like_pseudonym(text) else []
    try:
        return [ingest_pseudonym(store_key(store), text)]
    except StoreKeyError:
        return []


def resolve_user(store: Store, text: str) -> str:
    """The stored id ``text`` names: itself when stored (or when the store keeps raw ids), else, in a
    pseudonymising store with its key file, the pseudonym of ``text`` as a raw id."""
    if not is_pseudonymized(store) or store.value("SELECT count(*) FROM events WHERE user_id = ?", [text]):
        return text
    found = ids_for_search(store, text)
    return found[0] if found else text


def display_pseudonyms(store: Store, ids: list[str]) -> list[str]:
    """The display pseudonym of each stored id (in a pseudonymising store, the head of the stored one)."""
    if is_pseudonymized(store):
        return [u[: len(PREFIX) + DIGITS] for u in ids]
    key = store_key(store)
    return [pseudonym(key, u) for u in ids]
