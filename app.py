"""Interest Graph Studio: the Streamlit router and shared frame. Pages live in pages/ and only draw.

The frame decides who the visitor is before any page runs (igcore.dashboard.access): on a non-local address a
visitor sees only the login form until logged in, and the page list handed to st.navigation is the role's, so
a URL for any other page never runs it (Streamlit falls back to the first page). It makes the store ready (the
first start loads the bundled sample) and is the one error boundary: an igcore error shows as its message,
anything else as a short notice with the details in the server log, never as a stack trace in the browser.
"""

from __future__ import annotations

import logging

import streamlit as st

from igcore.dashboard import access
from igcore.errors import IgcoreError
from igcore.paths import default_db_path
from igcore.store import Store
from pages import common

st.set_page_config(page_title="Interest Graph Studio", layout="wide")
Store.one_writer_per_process = True  # sessions run in threads of one process: see Store

PAGES = {
    "home": st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    "data": st.Page("pages/data.py", title="Data", icon=":material/upload_file:"),
    "pipeline": st.Page("pages/pipeline.py", title="Pipeline", icon=":material/model_training:"),
    "explorer": st.Page("pages/explorer.py", title="User explorer", icon=":material/person_search:"),
    "live": st.Page("pages/live.py", title="Live", icon=":material/bolt:"),
    "cohorts": st.Page("pages/cohorts.py", title="Cohorts", icon=":material/groups:"),
}
assert tuple(PAGES) == access.PAGES  # the access rules name exactly these pages

try:
    role = common.visitor_role()
except IgcoreError as exc:  # a non-local address without a login, a malformed hash: say so, show nothing else
    st.error(str(exc))
    st.stop()
if role is None:
    st.navigation([st.Page(common.login_page, title="Log in", icon=":material/login:", url_path="login",
                           default=True)], position="hidden").run()
    st.stop()

db_path = default_db_path()
page = st.navigation([PAGES[key] for key in access.pages_for(role)])
st.sidebar.caption(f"Store: `{db_path}`")
common.account_sidebar(role)
try:
    with common.framed(role):  # the pages' reads check that they run inside this frame
        common.prepare(db_path)
        page.run()
except IgcoreError as exc:
    st.error(str(exc))
except Exception as exc:  # the boundary: a user sees a message, the log keeps the trace
    logging.getLogger("igcore.app").exception("page %s failed", page.title)
    st.error(f"Something went wrong on this page ({type(exc).__name__}: {exc}). The details are in the "
             "server log; nothing was changed in the store by the failed step.")
