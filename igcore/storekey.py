"""The store's encryption key: where it comes from (an environment variable or an owner-only key file), what a
usable one is, and the error a person sees when it is missing, wrong or unsafe to read. Never written into
the store (:mod:`igcore.store` opens encrypted files with it). Its owner-only check of a key file
(:func:`read_owner_only`) guards the pseudonym key file too (:mod:`igcore.pseudokey`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from igcore.errors import IgcoreError

KEY_ENV = "IGCORE_DB_KEY"
KEY_FILE_ENV = "IGCORE_DB_KEY_FILE"
MIN_KEY_CHARS = 16
# Tests only, on machines without httpfs: lets DuckDB write with its fallback ciphers, whose nonces do not come
# from a secure random generator (DuckDB calls this mode unsafe). Never set it for a real store.
UNSAFE_TEST_CRYPTO_ENV = "IGCORE_TEST_UNSAFE_DUCKDB_CRYPTO"


class StoreKeyError(IgcoreError):
    """The store's encryption key is missing, wrong, unsafe to read, or cannot be used."""


def db_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The store key from ``IGCORE_DB_KEY`` or the file named by ``IGCORE_DB_KEY_FILE``; None when neither is
    set. A key file must be a regular file owned by this user and closed to everyone else (mode 600 or 400),
    so that a key can't be read by other accounts on the machine: anything else is refused."""
    env = os.environ if environ is None else environ
    direct, file_name = env.get(KEY_ENV) or "", env.get(KEY_FILE_ENV) or ""
    if direct and file_name:
        raise StoreKeyError(f"both {KEY_ENV} and {KEY_FILE_ENV} are set: set one of them")
    if file_name:
        path = Path(file_name).expanduser()
        key, source = read_owner_only(path, f" ({KEY_FILE_ENV})"), f"the key file {path}"
    elif direct:
        key, source = direct.strip("\r\n"), KEY_ENV
    else:
        return None
    if "\x00" in key or len(key) < MIN_KEY_CHARS:
        raise StoreKeyError(f"{source} must hold a key of at least {MIN_KEY_CHARS} characters (no NUL); make "
                            "one with: python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
    return key


def read_owner_only(path: Path, origin: str = "") -> str:
    """The text of a key file (line ends stripped), refused unless it is a regular file owned by this user and
    closed to everyone else (mode 600 or 400): a key other accounts on the machine can read is no secret.
    ``origin`` follows the path in messages, e.g. the variable that named the file."""
    try:
        info = path.stat()
    except OSError as exc:
        raise StoreKeyError(f"cannot read the key file {path}{origin}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise StoreKeyError(f"the key file {path}{origin} is not a regular file")
    if info.st_mode & 0o077:
        raise StoreKeyError(f"the key file {path} can be read or changed by other users (mode "
                            f"{stat.S_IMODE(info.st_mode):03o}); make it yours only: chmod 600 {path}")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise StoreKeyError(f"the key file {path} belongs to another user; it must be this user's own")
    try:
        return path.read_text(encoding="utf-8").strip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreKeyError(f"cannot read the key file {path}{origin}: {exc}") from None
