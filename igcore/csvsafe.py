"""Cells that are safe to open in a spreadsheet: CSV formula injection neutralised for every CSV a user exports.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and some also after a
leading tab or carriage return; a value from an uploaded log (a user id, an item title) could then run in the
analyst's spreadsheet. Following OWASP's advice, such a cell is prefixed with a single quote, which
spreadsheets show as text. Only files meant for people are neutralised: CSVs the product writes for its own
importer keep their values exactly, since the prefix changes the data.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: Any) -> Any:
    """``value`` with a leading single quote when it is text a spreadsheet would read as a formula; any other
    value (numbers, missing values, harmless text) unchanged, so numeric columns stay numeric."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are neutralised, for ``to_csv`` or a download."""
    out = frame.copy()
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(neutralise_cell).astype(object)
    return out


def safe_row(row: list[Any] | tuple[Any, ...]) -> list[Any]:
    """One row for ``csv.writer`` with every cell neutralised."""
    return [neutralise_cell(v) for v in row]
