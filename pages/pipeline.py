"""pipeline: being built."""

import streamlit as st

st.title("pipeline")
st.info("This page is being built.")
