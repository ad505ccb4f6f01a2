"""Data: upload an events or items CSV, check the detected column mapping, import, see what the import did."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from igcore.dashboard import uploads
from igcore.dashboard.overview import full_import_table
from igcore.dashboard.text import md_literal
from igcore.dashboard.types import IgcoreError, IngestConfig
from pages import common

CONFIG = IngestConfig()
KINDS = {"events": "Events CSV (who did what, when)", "items": "Items CSV (the catalogue: titles, categories, ...)"}
text = md_literal  # untrusted text (file and column names, importer messages) in markdown contexts


@st.cache_data(show_spinner=False, max_entries=8)
def _preview(file_id: str, name: str, kind: str, _upload: UploadedFile) -> uploads.Preview:
    return uploads.preview_upload(_upload.getvalue(), name, kind, CONFIG)  # keyed on the upload's id, not bytes


def _import(kind: str, name: str, data: bytes, mapping: dict[str, str]) -> dict:
    """Import through the after-import service (model state, serving state, interest snapshots); returns what
    to show."""
    progress = common.progress_bar(f"Importing {kind}")
    try:
        outcome = uploads.import_upload(common.store_path(), data, name, kind, mapping, CONFIG, progress)
    except IgcoreError as exc:
        progress.bar.empty()
        return {"error": str(exc)}
    common.adopt(outcome.after)
    progress.bar.empty()
    return {"outcome": outcome}


def _show_result(result: dict) -> None:
    if "error" in result:
        st.error(text(result["error"]))
        return
    outcome: uploads.ImportOutcome = result["outcome"]
    report = outcome.report
    if outcome.already_imported:
        st.info(text(report.summary()))
        return
    st.success(f"Import {report.import_id} ({report.kind}): {report.status}, {report.seconds:.2f} s")
    cols = st.columns(4)
    for col, label, value in zip(cols, ("Rows read", "Loaded", "Quarantined", "Duplicate"),
                                 (report.rows_read, report.rows_loaded, report.rows_quarantined,
                                  report.rows_duplicate), strict=True):
        col.metric(label, f"{value:,}")
    for note in report.notes:
        st.warning(text(note))
    if report.unknown_event_types:
        kept = ", ".join(f"{t} ({n:,})" for t, n in report.unknown_event_types.items())
        st.caption(text(f"Unknown event types kept as they are: {kept}"))
    if report.reasons:
        st.caption("Quarantined rows by reason")
        st.dataframe(outcome.reasons(), hide_index=True)
    if not outcome.quarantined.empty:
        st.caption("Quarantined rows of this import (line 1 is the header)")
        st.dataframe(outcome.quarantined[["line_no", "reason", "raw_line"]], hide_index=True, width="stretch")
        st.download_button("Download these rows (CSV)", outcome.quarantine_csv(), f"quarantine-{report.import_id}.csv",
                           "text/csv", key=f"quarantine_csv_{report.import_id}")
    after = outcome.after
    if report.rows_loaded:
        st.caption(text(f"Model: {after.model}."))
        if after.snapshots_ok:
            st.success(f"Interest snapshots {after.snapshots}")  # numbers and interest kinds only
        else:
            st.warning(text(f"Interest snapshots {after.snapshots}"))


def _section(kind: str) -> None:
    upload = st.file_uploader(KINDS[kind], key=f"upload_{kind}")
    if upload is None:
        return
    try:
        uploads.check_upload(upload.size, upload.name, CONFIG)
        preview = _preview(upload.file_id, upload.name, kind, upload)
    except IgcoreError as exc:
        st.error(text(str(exc)))
        return
    for note in preview.notes:
        st.warning(text(note))
    st.caption(f"The first {len(preview.rows)} rows as read")
    st.dataframe(preview.rows, hide_index=True, width="stretch")
    st.caption("Column mapping, as detected: correct it where needed (- leaves a column out"
               + (", kept as extra attributes)" if kind == "items" else ")"))
    choices = uploads.field_choices(kind)
    grid = st.columns(min(4, len(preview.header)))
    mapping = {
        column: grid[i % len(grid)].selectbox(text(column), choices, index=choices.index(preview.mapping[column]),
                                              key=f"map_{kind}_{upload.file_id}_{i}")
        for i, column in enumerate(preview.header)
    }
    problems = uploads.mapping_problems(mapping, kind)
    for problem in problems:
        st.error(text(problem))
    if st.button(f"Import {kind}", key=f"import_{kind}", type="primary", disabled=bool(problems)):
        st.session_state[f"result_{kind}"] = (upload.file_id, _import(kind, upload.name, upload.getvalue(), mapping))
    shown = st.session_state.get(f"result_{kind}")
    if shown is not None and shown[0] == upload.file_id:
        _show_result(shown[1])


st.title("Data")
limit_mb = min(float(st.get_option("server.maxUploadSize")), CONFIG.max_file_bytes / 2**20)
st.caption(f"Upload files up to {limit_mb:,.0f} MB here; import larger ones with `igcore ingest FILE`. The same "
           "file imported twice changes nothing.")
# A keyed selector, not st.tabs: its choice is widget state, so the rerun an upload triggers keeps it even on a
# busy machine, and only the chosen file's section is drawn.
kind = st.segmented_control("File", list(KINDS), format_func=str.capitalize, default="events", required=True,
                            key="data_kind")
_section(kind)

st.subheader("Past imports")
st.dataframe(full_import_table(common.imports()), hide_index=True, width="stretch")
