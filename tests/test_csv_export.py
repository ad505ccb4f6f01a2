"""CSV formula injection: every cell a spreadsheet would run as a formula is neutralised, and nothing else."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from igcore.csvsafe import neutralise_cell, safe_csv_frame, safe_row


@pytest.mark.parametrize(("value", "want"), [
    ("=1+1", "'=1+1"),
    ("+41 79 000", "'+41 79 000"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=cmd", "'\t=cmd"),
    ("\r=cmd", "'\r=cmd"),
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("u1", "u1"),
    ("a=b", "a=b"),
    (" =1", " =1"),
    ("", ""),
    ("'=already", "'=already"),
])
def test_neutralise_cell(value, want):
    assert neutralise_cell(value) == want


@pytest.mark.parametrize("value", [-3, 2.5, None, True])
def test_non_text_cells_are_unchanged(value):
    assert neutralise_cell(value) is value


def test_safe_csv_frame_writes_exact_text():
    frame = pd.DataFrame({"user_id": ["=evil()", "u2"], "score": [-1.5, 2.0], "@col": ["-x", None]})
    text = safe_csv_frame(frame).to_csv(index=False, lineterminator="\n")
    assert text == "user_id,score,'@col\n'=evil(),-1.5,'-x\nu2,2.0,\n"
    assert frame["user_id"].tolist() == ["=evil()", "u2"], "the input frame is not changed"


def test_safe_row_with_csv_writer():
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(safe_row(["+1", 7, "ok", "@x"]))
    assert out.getvalue() == "'+1,7,ok,'@x\n"
