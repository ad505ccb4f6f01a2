"""Untrusted text (user and item ids, titles, file and column names, model names from disk) made inert for the
two places the dashboard shows it other than tables: Streamlit's markdown and plotly figures."""

from __future__ import annotations

import html
import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def md_literal(value: object) -> str:
    """``value`` for a markdown context (st.success, st.caption, widget labels) shown exactly as typed: every ASCII
    punctuation character backslash-escaped, so no markdown, HTML, link, LaTeX or ``:color[]`` directive acts."""
    return _PUNCTUATION.sub(r"\\\1", "" if value is None else str(value))


def figure_text(value: object) -> str:
    """``value`` for a plotly label, hover or legend: HTML-escaped (plotly renders a subset of HTML and shows
    the escaped entities as the literal characters)."""
    return html.escape("" if value is None else str(value), quote=True)
