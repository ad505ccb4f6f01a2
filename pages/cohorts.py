"""cohorts: being built."""

import streamlit as st

st.title("cohorts")
st.info("This page is being built.")
