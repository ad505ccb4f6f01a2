"""Streamlit glue shared by the pages: cached reads of igcore.dashboard, keyed on the store file's state.

Not a page itself (app.py lists the pages). Cache keys include the file's modification time, so a CLI import
made while the dashboard runs shows up on the next rerun.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from igcore.dashboard import access, models, serve
from igcore.dashboard import overview as dashboard
from igcore.dashboard.text import md_literal
from igcore.dashboard.types import DataFrame, ModelScorer, Progress, default_db_path

LOGIN_KEY = "igcore_login"
_frame = threading.local()  # the role app.py admitted for the script run in progress on this thread


@contextlib.contextmanager
def framed(role: access.Role) -> Iterator[None]:
    """app.py runs the chosen page inside this: the pages' reads below check that they run in it."""
    _frame.role = role
    try:
        yield
    finally:
        _frame.role = None


def require_frame() -> access.Role:
    """The role app.py admitted for this run; a page running without app.py ends its run here and runs again
    through app.py.

    That happens in Streamlit's legacy pages/ mode, which a server started by a plain `streamlit run app.py`
    is in until app.py has called st.navigation once (`igcore app` starts its server outside it, and
    tests/conftest.py AppTest's runs): a request for /data would run pages/data.py alone, with no login and
    no role check (igcore.dashboard.serve says more). Every page reads the store through this module, so no
    page gets data outside the frame."""
    role = getattr(_frame, "role", None)
    if role is None and get_script_run_ctx(suppress_warning=True) is not None:
        serve.use_navigation_only()
        st.rerun()
    return role


# The first page a fresh `streamlit run app.py` server runs imports this module before drawing anything: in the
# legacy mode, end that run here (app.py imports this module too, before its frame exists, hence the flag test).
if serve.use_navigation_only() and get_script_run_ctx(suppress_warning=True) is not None:
    st.rerun()


def _stamp(path: Path) -> float:
    wal = path.with_name(path.name + ".wal")
    return max((p.stat().st_mtime for p in (path, wal) if p.exists()), default=0.0)


def store_path() -> Path:
    """The store every page works on (``$IGCORE_DB`` or data/igcore.duckdb)."""
    require_frame()
    return default_db_path()


def stamp() -> float:
    """Changes whenever the store file does: pass it to ``st.cache_data`` functions as part of their key."""
    return _stamp(store_path())


def progress_bar(label: str) -> Progress:
    """A ``Progress`` callback drawing one ``st.progress`` bar (``.bar.empty()`` removes it when done).

    Works from worker threads too (the importer reports DuckDB's read progress from a polling thread): such a
    thread is given this script run's context, without which Streamlit refuses the update."""
    require_frame()
    bar = st.progress(0.0, text=label)
    ctx = get_script_run_ctx()

    def report(stage: str, done: int, total: int, info: dict[str, Any]) -> None:
        if ctx is not None and get_script_run_ctx(suppress_warning=True) is None:
            add_script_run_ctx(threading.current_thread(), ctx)
        frac = min(done / total, 1.0) if total else 0.0
        bar.progress(frac, text=f"{label}: {stage}")

    report.bar = bar  # type: ignore[attr-defined]
    return report


@st.cache_resource(show_spinner="Loading the trained model")
def _live_model(path: str, checkpoint_stamp: float) -> models.LiveModel | None:
    return models.load_live_model(Path(path))


def live_model() -> models.LiveModel | None:
    """The store's trained pipeline, or None before any training: loaded once per checkpoint, then brought up
    to date with the events stored since (online updates, no reload)."""
    path = store_path()
    live = _live_model(str(path), checkpoint_stamp())
    if live is not None:
        models.catch_up(live, path)
    return live


def adopt(after) -> None:
    """After an import (``igcore.after_import``): the cached live model takes over the model it refreshed."""
    live = _live_model(str(store_path()), checkpoint_stamp())
    if live is not None:
        live.adopt(after)


def checkpoint_stamp() -> float:
    """Changes whenever the store's model is retrained: pass it to caches of anything the model decides."""
    return models.checkpoint_version(store_path())


def drop_cached_state() -> None:
    """After a user is forgotten: every cached read and the loaded model may hold that user's data."""
    st.cache_data.clear()
    _live_model.clear()


def model_scorer() -> ModelScorer | None:
    """The live model as the interest graphs use it (None before any training)."""
    live = live_model()
    return live.scorer if live is not None else None
def prepare(path: Path) -> None:
    """Make the store ready; the first start loads the bundled sample with a progress bar."""
    if st.session_state.get("prepared") == str(path):
        return
    progress = progress_bar("Preparing the store (the first start loads the bundled sample)")
    for summary in dashboard.prepare_store(path, progress):
        st.toast(summary.splitlines()[0])
    progress.bar.empty()
    st.session_state["prepared"] = str(path)


@st.cache_data(show_spinner=False)
def _overview(path: str, stamp: float) -> dict[str, Any]:
    return dashboard.overview(Path(path))


@st.cache_data(show_spinner=False)
def _imports(path: str, stamp: float) -> DataFrame:
    return dashboard.import_log(Path(path))


@st.cache_data(show_spinner=False)
def _quarantine(path: str, stamp: float) -> DataFrame:
    return dashboard.quarantine_rows(Path(path))


def overview() -> dict[str, Any]:
    path = store_path()
    return _overview(str(path), _stamp(path))


def imports() -> DataFrame:
    path = store_path()
    return _imports(str(path), _stamp(path))


def quarantine() -> DataFrame:
    path = store_path()
    return _quarantine(str(path), _stamp(path))


# --- access ----------------------------------------------------------------------------------------------
@st.cache_resource
def _throttle() -> access.LoginThrottle:
    return access.LoginThrottle()  # one per server process: shared by every session


def visitor_role() -> access.Role | None:
    """The role of this session's visitor, None before a login (only the login form is shown then).

    On 127.0.0.1 with no login configured everyone is the operator (analyst). A non-local address with no
    login configured, or a malformed setting, raises ``AccessConfigError``: app.py shows it and nothing else."""
    config = serve.auth_settings()
    address = serve.served_address()
    access.check_can_serve(address, config)
    if not access.login_required(address, config):
        return "analyst"
    if config.method == "oidc":
        if not st.user.is_logged_in:
            return None
        return access.role_for_email(st.user.get("email"), config.analysts, config.viewers)
    login = st.session_state.get(LOGIN_KEY)
    return login.role if isinstance(login, access.Login) else None


def role() -> access.Role:
    """The role in effect for this run (app.py admitted it before running the page)."""
    return require_frame()


def sees_user_data() -> bool:
    """Whether this visitor may see single users' histories, ids and raw imported rows (analysts only)."""
    return access.can_see_user_data(role())


def login_page() -> None:
    """The only page a visitor sees before logging in: OIDC buttons, or a password form."""
    config = serve.auth_settings()
    st.title("Interest Graph Studio")
    if config.method == "oidc":
        if st.user.is_logged_in:  # signed in, but the operator gave this account no role
            who = st.user.get("email") or "this account"
            st.error(f"{md_literal(who)} has no role here: ask whoever runs the dashboard to add it to "
                     f"{access.ANALYSTS_ENV} or {access.VIEWERS_ENV}.")
            st.button("Log out", on_click=st.logout)
            return
        st.write("Log in to see the dashboard.")
        for provider in config.oidc_providers or (None,):
            label = f"Log in with {provider}" if provider else "Log in"
            st.button(label, key=f"login_{provider}", type="primary",
                      on_click=st.login, args=(provider,) if provider else ())
        return
    with st.form("login"):
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if not submitted:
        return
    throttle = _throttle()
    wait = throttle.wait_s()
    if wait > 0:
        st.error(f"Too many failed logins on this server: try again in {int(wait) + 1} s.")
        return
    found = access.role_for_password(password, config.password_hashes)
    if found is None:
        throttle.failed()
        st.error("Wrong password.")
        return
    st.session_state[LOGIN_KEY] = access.Login(found, "password")
    st.rerun()


def account_sidebar(current: access.Role) -> None:
    """Who is logged in, and a way out (nothing on a local, login-free server)."""
    if not access.login_required(serve.served_address(), serve.auth_settings()):
        return
    st.sidebar.caption(f"Logged in as {current}")
    if serve.auth_settings().method == "oidc":
        st.sidebar.button("Log out", on_click=st.logout)
    elif st.sidebar.button("Log out"):
        st.session_state.pop(LOGIN_KEY, None)
        st.rerun()

