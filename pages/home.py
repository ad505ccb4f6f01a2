"""Home: what the store holds."""

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import common

st.title("Interest Graph Studio")
stats = common.overview()
cols = st.columns(4)
cols[0].metric("Events", f"{stats['events']:,}")
cols[1].metric("Users", f"{stats['users']:,}")
cols[2].metric("Items", f"{stats['items_seen']:,}", help=f"{stats['catalogue_items']:,} in the catalogue")
cols[3].metric("Quarantined rows", f"{stats['quarantined']:,}")
if stats["first_ts"] is not None:
    st.caption(f"Events from {stats['first_ts']:%Y-%m-%d %H:%M} to {stats['last_ts']:%Y-%m-%d %H:%M} UTC")

if stats["event_types"]:
    mix = pd.DataFrame({"event type": list(stats["event_types"]), "events": list(stats["event_types"].values())})
    st.plotly_chart(px.bar(mix, x="event type", y="events", title="Event-type mix"), width="stretch")

st.subheader("Imports")
st.dataframe(common.imports(), width="stretch", hide_index=True)
quarantined = common.quarantine()
if not quarantined.empty:
    st.subheader("Quarantined rows")
    st.dataframe(quarantined, width="stretch", hide_index=True)
