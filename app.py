"""Interest Graph Studio: the Streamlit router and shared frame. Pages live in pages/ and only draw.

The frame makes the store ready (the first start loads the bundled sample) and is the one error boundary:
an igcore error shows as its message, anything else as a short notice with the details in the server log,
never as a stack trace in the browser.
"""

from __future__ import annotations

import logging

import streamlit as st

from igcore.errors import IgcoreError
from igcore.paths import default_db_path
from igcore.store import Store
from pages.common import prepare

st.set_page_config(page_title="Interest Graph Studio", layout="wide")
Store.one_writer_per_process = True  # sessions run in threads of one process: see Store

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/upload_file:"),
    st.Page("pages/pipeline.py", title="Pipeline", icon=":material/model_training:"),
    st.Page("pages/explorer.py", title="User explorer", icon=":material/person_search:"),
    st.Page("pages/live.py", title="Live", icon=":material/bolt:"),
    st.Page("pages/cohorts.py", title="Cohorts", icon=":material/groups:"),
]

db_path = default_db_path()
page = st.navigation(PAGES)
st.sidebar.caption(f"Store: `{db_path}`")
try:
    prepare(db_path)
    page.run()
except IgcoreError as exc:
    st.error(str(exc))
except Exception as exc:  # the boundary: a user sees a message, the log keeps the trace
    logging.getLogger("igcore.app").exception("page %s failed", page.title)
    st.error(f"Something went wrong on this page ({type(exc).__name__}: {exc}). The details are in the "
             "server log; nothing was changed in the store by the failed step.")
