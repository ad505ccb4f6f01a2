"""Interest Graph Studio: the Streamlit router and shared frame. Pages live in pages/ and only draw."""

from __future__ import annotations

import streamlit as st

from igcore.errors import IgcoreError
from igcore.paths import default_db_path
from pages.common import prepare

st.set_page_config(page_title="Interest Graph Studio", layout="wide")

db_path = default_db_path()
try:
    prepare(db_path)
except IgcoreError as exc:
    st.error(str(exc))
    st.stop()

st.sidebar.caption(f"Store: `{db_path}`")
page = st.navigation([st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)])
page.run()
