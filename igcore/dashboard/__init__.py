"""What the dashboard pages read and do, as plain functions over a store path: no Streamlit in here.

One module per page concern (``overview``: the store and first start; ``uploads``: CSV preview and import;
``training``: the pipeline and benchmark tables; ``explorer``: one user's interests over time; ``live``: new
events and what-if questions; ``cohorts``: drift across users). Pages in ``pages/`` call these through
Streamlit's caches (``pages/common.py``) and only draw. Every function opens the store briefly, so the CLI
can write between two page views (DuckDB allows one writer at a time).
"""
