"""Who may see what in the dashboard: addresses, logins, roles and the pages each role gets.

Pure functions (no Streamlit), so that every decision has an exact unit test; ``pages/common.py`` draws the
login form and ``app.py`` builds its page list from :func:`pages_for`.

Rules:

- Bound to this machine only (127.0.0.0/8, ``::1``, ``localhost``) with no login configured, the dashboard is
  the operator's own tool: no login, every page.
- Any other address (``0.0.0.0``, a LAN address, or Streamlit's default of every interface) requires a login.
  ``igcore app`` refuses to start without one, and ``app.py`` shows only an explanation.
- Once a login is configured it is used on every address (a reverse proxy in front of a 127.0.0.1 bind would
  otherwise expose an open dashboard).
- Logins: Streamlit's OIDC (``st.login``, ``[auth]`` in ``.streamlit/secrets.toml``) when configured, else
  passwords whose salted scrypt hashes sit in the environment (``IGCORE_ANALYST_PASSWORD_HASH``,
  ``IGCORE_VIEWER_PASSWORD_HASH``). OIDC users get a role from ``IGCORE_ANALYSTS`` / ``IGCORE_VIEWERS`` (e-mail
  lists; ``*`` for every signed-in user); an unlisted user gets none.
- Roles: an **analyst** sees everything, users' histories included; a **viewer** sees only the Cohorts page's
  differentially private releases (:mod:`igcore.dp`): no exact count (Home's figures are exact), never a single
  user's events, ids or raw rows.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from igcore.errors import IgcoreError

Role = Literal["analyst", "viewer"]
ROLES: tuple[Role, ...] = ("analyst", "viewer")

# Page keys, in navigation order; app.py maps each to its st.Page.
PAGES: tuple[str, ...] = ("home", "data", "pipeline", "explorer", "live", "cohorts")
ROLE_PAGES: dict[Role, tuple[str, ...]] = {
    "analyst": PAGES,
    "viewer": ("cohorts",),  # private releases only: no exact figure, no user's history, no imports, no training
}

ANALYST_HASH_ENV = "IGCORE_ANALYST_PASSWORD_HASH"
VIEWER_HASH_ENV = "IGCORE_VIEWER_PASSWORD_HASH"
ROLE_HASH_ENV: dict[Role, str] = {"analyst": ANALYST_HASH_ENV, "viewer": VIEWER_HASH_ENV}
ANALYSTS_ENV = "IGCORE_ANALYSTS"
VIEWERS_ENV = "IGCORE_VIEWERS"

# scrypt work factors: 16 MiB and a fraction of a second per check, enough to make guessing a stolen hash slow
# while a login stays quick. Stored in each hash, so they can change without invalidating old hashes.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32
_HASH_SCHEME = "scrypt"
_MAX_SCRYPT_N = 2**20  # a hash asking for more memory than this is refused rather than computed


class AccessConfigError(IgcoreError):
    """The login settings are unusable (a malformed hash, a non-local address without any login)."""


@dataclasses.dataclass(frozen=True)
class AuthConfig:
    """The logins the environment and the Streamlit secrets configure.

    ``password_hashes`` maps a role to its password hash; ``oidc`` is true when ``[auth]`` is complete enough
    for ``st.login``; ``oidc_providers`` names its provider sections (empty: the default provider);
    ``analysts`` / ``viewers`` are the lower-cased e-mail addresses given those roles under OIDC."""

    password_hashes: Mapping[Role, str] = dataclasses.field(default_factory=dict)
    oidc: bool = False
    oidc_providers: tuple[str, ...] = ()
    analysts: frozenset[str] = frozenset()
    viewers: frozenset[str] = frozenset()

    @property
    def configured(self) -> bool:
        """Whether any login is configured."""
        return self.oidc or bool(self.password_hashes)

    @property
    def method(self) -> Literal["oidc", "password", "none"]:
        """The login the dashboard asks for: OIDC wins over passwords when both are configured."""
        return "oidc" if self.oidc else "password" if self.password_hashes else "none"


@dataclasses.dataclass(frozen=True)
class Login:
    """A successful login, kept in the session's state: an object the browser cannot forge (widget values
    arrive as protobuf, never as this class)."""

    role: Role
    method: Literal["password", "oidc"]


# --- passwords -------------------------------------------------------------------------------------------
def hash_password(password: str, *, salt: bytes | None = None, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> str:
    """A salted scrypt hash of ``password``: ``scrypt$n$r$p$salt$hash`` (salt and hash in base64).

    The salt is 16 random bytes unless given (tests pass one to get an exact value)."""
    if not password:
        raise AccessConfigError("the password is empty")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_DKLEN,
                            maxmem=_maxmem(n, r))
    return "$".join([_HASH_SCHEME, str(n), str(r), str(p), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (a :func:`hash_password` value), compared in constant time.

    A malformed ``stored`` raises :class:`AccessConfigError`: it is a configuration mistake, not a wrong
    password, and the operator needs to hear about it."""
    n, r, p, salt, digest = parse_hash(stored)
    candidate = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest),
                               maxmem=_maxmem(n, r))
    return hmac.compare_digest(candidate, digest)


def parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """``(n, r, p, salt, digest)`` of a stored hash, or :class:`AccessConfigError` saying what is wrong."""
    parts = stored.strip().split("$")
    if len(parts) != 6 or parts[0] != _HASH_SCHEME:
        raise AccessConfigError("a password hash must look like scrypt$N$R$P$SALT$HASH: make one with "
                                "`python -m igcore.dashboard.access hash-password`")
    try:
        n, r, p = (int(v) for v in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except (ValueError, binascii.Error) as exc:
        raise AccessConfigError("a password hash has a malformed number or base64 part: make a new one "
                                "with `python -m igcore.dashboard.access hash-password`") from exc
    if n < 2 or n & (n - 1) or n > _MAX_SCRYPT_N or not 1 <= r <= 64 or not 1 <= p <= 16 or len(salt) < 8 \
            or len(digest) < 16:
        raise AccessConfigError("a password hash has out-of-range scrypt parameters: make a new one with "
                                "`python -m igcore.dashboard.access hash-password`")
    return n, r, p, salt, digest


def role_for_password(password: str, hashes: Mapping[Role, str]) -> Role | None:
    """The role whose password this is (analyst checked first), or None. Every configured hash is checked,
    so the time taken does not tell which role exists."""
    matched = [role for role in ROLES if role in hashes and verify_password(password, hashes[role])]
    return matched[0] if matched else None


# --- OIDC roles ----------------------------------------------------------------------------------------------
def role_for_email(email: str | None, analysts: frozenset[str], viewers: frozenset[str]) -> Role | None:
    """The role of an OIDC user by e-mail: listed in ``analysts`` (or ``*`` there), else in ``viewers`` (or
    ``*``), else None. Case-insensitive; a user without an e-mail matches only ``*``."""
    mail = (email or "").strip().lower()
    for role, listed in (("analyst", analysts), ("viewer", viewers)):
        if "*" in listed or (mail and mail in listed):
            return role  # type: ignore[return-value]
    return None


def parse_emails(text: str | None) -> frozenset[str]:
    """Comma- or space-separated e-mail addresses (or ``*``), lower-cased."""
    return frozenset(part.strip().lower() for part in (text or "").replace(",", " ").split() if part.strip())


# --- configuration ---------------------------------------------------------------------------------------
def oidc_providers(secrets_map: Mapping[str, Any]) -> tuple[bool, tuple[str, ...]]:
    """Whether ``[auth]`` configures ``st.login``, and its named provider sections.

    Complete means ``redirect_uri`` and ``cookie_secret``, plus ``client_id`` either directly (the default
    provider, ``st.login()``) or in one or more ``[auth.NAME]`` sections (``st.login("NAME")``)."""
    auth = secrets_map.get("auth") if isinstance(secrets_map, Mapping) else None
    if not isinstance(auth, Mapping) or not auth.get("redirect_uri") or not auth.get("cookie_secret"):
        return False, ()
    named = tuple(sorted(k for k, v in auth.items() if isinstance(v, Mapping) and v.get("client_id")))
    return bool(auth.get("client_id")) or bool(named), () if auth.get("client_id") else named


def auth_config(environ: Mapping[str, str], secrets_map: Mapping[str, Any] | None = None) -> AuthConfig:
    """The logins configured by ``environ`` (password hashes, OIDC role lists) and ``secrets_map`` (Streamlit
    secrets). Malformed hashes raise :class:`AccessConfigError` here, at start, not at the first login."""
    hashes: dict[Role, str] = {}
    for role, name in ROLE_HASH_ENV.items():
        value = (environ.get(name) or "").strip()
        if value:
            try:
                parse_hash(value)
            except AccessConfigError as exc:
                raise AccessConfigError(f"{name}: {exc}") from None
            hashes[role] = value
    oidc, providers = oidc_providers(secrets_map or {})
    return AuthConfig(password_hashes=hashes, oidc=oidc, oidc_providers=providers,
                      analysts=parse_emails(environ.get(ANALYSTS_ENV)),
                      viewers=parse_emails(environ.get(VIEWERS_ENV)))


# --- addresses -------------------------------------------------------------------------------------------
def is_local_address(address: str | None) -> bool:
    """Whether a server bound to ``address`` is reachable from this machine only.

    Loopback addresses and ``localhost`` are; an empty or missing address is not (Streamlit then listens on
    every interface), nor are ``0.0.0.0``, ``::`` or any other host name, which may resolve elsewhere."""
    text = (address or "").strip().strip("[]")
    if not text:
        return False
    if text.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def login_required(address: str | None, config: AuthConfig) -> bool:
    """Whether visitors must log in: always once a login is configured, and on any non-local address (where
    the lack of one is refused by :func:`check_can_serve`)."""
    return config.configured or not is_local_address(address)


def check_can_serve(address: str | None, config: AuthConfig) -> None:
    """Refuse (:class:`AccessConfigError`) to serve on a non-local address with no login configured."""
    if not is_local_address(address) and not config.configured:
        shown = address or "every interface (Streamlit's default)"
        raise AccessConfigError(
            f"refusing to serve the dashboard on {shown} without a login: anyone who can reach it would see "
            f"every user's history. Serve on 127.0.0.1 (the default of `igcore app`; `streamlit run app.py "
            f"--server.address 127.0.0.1`), or configure a login: "
            f"{ANALYST_HASH_ENV} / {VIEWER_HASH_ENV} (make a hash with `python -m igcore.dashboard.access "
            "hash-password`) or [auth] in .streamlit/secrets.toml for OIDC (README, 'Running it for a team')")


# --- what a role sees ------------------------------------------------------------------------------------
def pages_for(role: Role | None) -> tuple[str, ...]:
    """The page keys a role may open, in navigation order; none for no role (only the login form)."""
    return ROLE_PAGES.get(role, ()) if role else ()


def can_see_user_data(role: Role | None) -> bool:
    """Whether a role may see individual users' histories, ids and raw imported rows."""
    return role == "analyst"


# --- login attempts ------------------------------------------------------------------------------------------
class LoginThrottle:
    """Process-wide limit on failed password logins: after ``limit`` failures within ``window_s`` seconds,
    every attempt is refused until the oldest failure leaves the window. Sessions are cheap to open, so the
    count is shared by all of them (one server process, many session threads)."""

    def __init__(self, limit: int = 10, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._failures: list[float] = []
        self._lock = threading.Lock()

    def wait_s(self) -> float:
        """Seconds until an attempt is allowed again; 0.0 when it is allowed now."""
        with self._lock:
            now = self._clock()
            self._failures = [t for t in self._failures if now - t < self.window_s]
            if len(self._failures) < self.limit:
                return 0.0
            return self.window_s - (now - self._failures[0])

    def failed(self) -> None:
        """Record a failed attempt."""
        with self._lock:
            self._failures.append(self._clock())


# --- helpers ---------------------------------------------------------------------------------------------
def _maxmem(n: int, r: int) -> int:
    return 128 * r * n + 2**20


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def hash_password_command(argv: list[str]) -> int:
    """``python -m igcore.dashboard.access hash-password``: read a password twice (not echoed), print its
    hash for ``IGCORE_ANALYST_PASSWORD_HASH`` / ``IGCORE_VIEWER_PASSWORD_HASH``."""
    import getpass
    import sys

    if argv[:1] != ["hash-password"]:
        print("usage: python -m igcore.dashboard.access hash-password", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("igcore: error: the two passwords differ", file=sys.stderr)
            return 1
    else:  # piped: one line
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        print(hash_password(password))
    except IgcoreError as exc:
        print(f"igcore: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(hash_password_command(sys.argv[1:]))
