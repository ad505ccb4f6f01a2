"""Home: what the store holds, which model is trained on what, and how current the interest snapshots are."""

from pathlib import Path

import plotly.express as px
import streamlit as st

from igcore.dashboard import status
from igcore.dashboard.axes import axis_format
from igcore.dashboard.overview import import_table
from igcore.dashboard.types import DataFrame
from pages import common


@st.cache_data(show_spinner=False)
def _model_status(path: str, stamp: float, checkpoint_stamp: float) -> status.ModelStatus | None:
    return status.model_status(Path(path))


@st.cache_data(show_spinner=False)
def _snapshot_status(path: str, stamp: float) -> status.SnapshotStatus:
    return status.snapshot_status(Path(path))


st.title("Interest Graph Studio")
stats = common.overview()
cols = st.columns(4)
cols[0].metric("Events", f"{stats['events']:,}")
cols[1].metric("Users", f"{stats['users']:,}")
cols[2].metric("Items", f"{stats['items_seen']:,}", help=f"{stats['catalogue_items']:,} in the catalogue")
cols[3].metric("Quarantined rows", f"{stats['quarantined']:,}")
if stats["first_ts"] is not None:
    st.caption(f"Events from {stats['first_ts']:%Y-%m-%d %H:%M} to {stats['last_ts']:%Y-%m-%d %H:%M} UTC")

path = common.store_path()
model = _model_status(str(path), common.stamp(), status.checkpoint_stamp(path))
analyst = common.sees_user_data()  # a viewer gets the figures only: no page links it lacks, no raw rows
if model is None:
    st.info("No model trained yet: train one on the Pipeline page." if analyst else "No model trained yet.")
    if analyst:
        st.page_link("pages/pipeline.py", label="Pipeline: train a model", icon=":material/model_training:")
else:
    st.info(model.summary())
st.caption(_snapshot_status(str(path), common.stamp()).summary())

if stats["event_types"]:
    mix = DataFrame({"event type": list(stats["event_types"]), "events": list(stats["event_types"].values())})
    fig = px.bar(mix, x="event type", y="events", title="Event-type mix")
    fig.update_xaxes(**axis_format(mix["event type"], "category"))
    fig.update_yaxes(**axis_format(mix["events"], "count"))
    st.plotly_chart(fig, width="stretch")

if analyst:  # imported files and quarantined raw lines (user ids among them) are for analysts
    st.subheader("Imports")
    st.dataframe(import_table(common.imports()), width="stretch", hide_index=True)  # counts first, short sha
    quarantined = common.quarantine()
    if not quarantined.empty:
        st.subheader("Quarantined rows")
        st.dataframe(quarantined, width="stretch", hide_index=True)
