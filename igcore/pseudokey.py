"""The pseudonym key's home: a file outside the store, readable by its owner only.

The key of the store's user pseudonyms (:mod:`igcore.privacy`) is never written into the store: a store file
that is copied, backed up or leaked without its key file can neither map a pseudonym back to an id nor confirm
a guessed id by hashing it. The file sits beside the store as ``<store file>.pseudonym.key``, or, with
``IGCORE_PSEUDONYM_KEY_DIR`` set, in that folder under the same name (a key kept on another volume than the
data). It is created with mode 600 and refused when others can read it (:func:`igcore.storekey.read_owner_only`).

Stores made before this kept the key in their ``meta`` table; opening one for writing moves it out
(:func:`move_out_of_meta`): the file is written, the row deleted.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

import duckdb

from igcore.storekey import StoreKeyError, read_owner_only

KEY_DIR_ENV = "IGCORE_PSEUDONYM_KEY_DIR"
SUFFIX = ".pseudonym.key"
LEGACY_META_KEY = "pseudonym_key"  # where stores kept the key before it moved out
KEY_BYTES = 32  # HMAC-SHA256's own output size: a longer key adds nothing, a shorter one weakens it
MIN_KEY_HEX = 32  # the legacy keys were 16 random bytes; anything shorter is refused


def key_path(store_path: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where the pseudonym key of the store at ``store_path`` lives."""
    env = os.environ if environ is None else environ
    folder = Path(env[KEY_DIR_ENV]).expanduser() if env.get(KEY_DIR_ENV) else Path(store_path).parent
    return folder / f"{Path(store_path).name}{SUFFIX}"


def read_key(path: Path) -> str | None:
    """The key in ``path`` (hex digits), None when there is no such file; a file others can read, or one that
    holds no key, is refused with a :class:`StoreKeyError`."""
    if not os.path.lexists(path):
        return None
    key = read_owner_only(path).strip()
    try:
        bytes.fromhex(key)
    except ValueError:
        key = ""
    if len(key) < MIN_KEY_HEX:
        raise StoreKeyError(f"the pseudonym key file {path} holds no key ({MIN_KEY_HEX} or more hex digits): "
                            "restore it from a backup, or see README 'Pseudonyms' on rotating the key")
    return key.lower()


def create_key(path: Path, key: str | None = None) -> str:
    """Write ``key`` (default: fresh random bytes) into a new key file at ``path`` unless one exists; the key the
    file holds afterwards. The file appears whole or not at all (written aside, then linked into place), so two
    processes creating it at once agree on one key."""
    return _write(path, key or secrets.token_hex(KEY_BYTES), replace=False)


def replace_key(path: Path, key: str | None = None) -> str:
    """Put ``key`` (default: fresh random bytes) into ``path``, replacing any key there (a new key for a store
    that has no pseudonymised ids yet, or a rotation); the new key."""
    return _write(path, key or secrets.token_hex(KEY_BYTES), replace=True)


def _write(path: Path, key: str, replace: bool) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600 whatever the umask
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(key + "\n")
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(tmp, path)
            return key
        try:
            os.link(tmp, path)
        except FileExistsError:
            return read_key(path) or key
    finally:
        Path(tmp).unlink(missing_ok=True)
    return key


def move_out_of_meta(con: duckdb.DuckDBPyConnection, store_path: Path) -> None:
    """Move a legacy key from the store's ``meta`` table into its key file (a key file already there wins)."""
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [LEGACY_META_KEY]).fetchall()
    if rows:
        create_key(key_path(store_path), rows[0][0])
        con.execute("DELETE FROM meta WHERE key = ?", [LEGACY_META_KEY])
