"""Numbers as people read them in a terminal: no float noise, percents of a whole that add up, plain tables.

Computed figures carry binary rounding (a contribution of ``-5.7e-24`` where the exact value is 0), shares
rounded one by one can add to 99 or 101 percent, and pandas prints every float with six decimals. People read
"Tea 101%" or "0.333333" as an error, so what the command line prints goes through here: :func:`clean` turns
noise into zero, :func:`whole_percents` rounds the parts of a whole so that they add to 100 (largest remainder),
and :func:`format_table` lays a table out with a few significant digits per column. Standard library only (a
DataFrame is read through its ``to_dict``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

MISSING = "–"  # what a table shows for None or NaN, as the benchmark tables do
_QUOTA_DIGITS = 9  # quotas rounded to this many decimals first, so that float noise cannot break a tie


def clean(x: float, eps: float = 1e-12) -> float:
    """``x`` as a float, with float noise (``|x| < eps``) made exactly 0.0, never -0.0; NaN and infinities pass
    unchanged. Values in this library are shares, scores and divergences of order 1, so an absolute ``eps`` is
    noise relative to them."""
    x = float(x)
    return 0.0 if abs(x) < eps else x


def whole_percents(shares: Sequence[float]) -> list[int]:
    """Whole percents of ``shares`` that add to ``round(100 * sum)``: exactly 100 for shares of a whole that sum
    to about 1. Largest-remainder (Hamilton) rounding: every part gets its percent rounded down, and the percents
    still missing go to the parts with the largest remainders, the earlier part first on a tie; each percent is
    then within 1 of ``100 * share``.

    A negative share counts as 0 (a part that takes away from a whole has no share of it to show; callers that
    want the rest to add to 100 normalise the positive parts). A NaN or infinite share raises ValueError: there
    is no honest percent for an unknown part, and leaving it out would make the others add to the wrong total."""
    values = [float(s) for s in shares]
    if not all(math.isfinite(v) for v in values):
        raise ValueError("a share is NaN or infinite: whole percents need every part of the whole")
    quotas = [round(100.0 * max(v, 0.0), _QUOTA_DIGITS) for v in values]
    total = math.floor(math.fsum(quotas) + 0.5)
    floors = [math.floor(q) for q in quotas]
    missing = total - sum(floors)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - floors[i]), i))
    for i in order[:missing]:
        floors[i] += 1
    return floors


def percent_labels(shares: Sequence[float]) -> list[str]:
    """``"62%"`` for each share, the library's percent style (Python's ``:.0%``), from :func:`whole_percents`,
    so that the labels of the parts of a whole add to 100%."""
    return [f"{p}%" for p in whole_percents(shares)]


def percent_text(x: float, decimals: int = 0) -> str:
    """One share as a percent, ``"62%"``, never ``"-0%"``; for a share that is not listed with the rest of its
    whole (use :func:`percent_labels` for those)."""
    return fixed(100.0 * clean(x), decimals) + "%"


def fixed(x: float, decimals: int) -> str:
    """``x`` with ``decimals`` decimals and no minus sign on a value that shows as zero (``"0.00"``, not
    ``"-0.00"``)."""
    text = f"{clean(x):.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def significant(x: float, digits: int = 3, max_decimals: int = 6) -> str:
    """``x`` to about ``digits`` significant digits in fixed notation (``0.00123``, ``1235``), never in
    scientific notation: a terminal reader compares digits, not exponents."""
    x = clean(x)
    if not math.isfinite(x):
        return MISSING if math.isnan(x) else str(x)
    return fixed(x, _decimals_for(abs(x), digits, max_decimals))


def format_table(table: Any, percent: Collection[str] | None = None, decimals: Mapping[str, int] | None = None,
                 digits: int = 3, max_decimals: int = 4) -> str:
    """A plain-text table for a terminal: a header, a rule of dashes, one line a row, columns two spaces apart.

    ``table`` is a DataFrame or a sequence of mappings (rows). Numbers are right-aligned, text left-aligned;
    None, NaN and NaT show as "–". Per column: whole numbers (also floats that are all whole, e.g. noisy counts)
    as integers; the ``percent`` columns (default: those whose name contains "share") as whole percents; other
    floats with the decimals that give the column's largest value ``digits`` significant digits (at most
    ``max_decimals``), or ``decimals[column]``. Lists show as comma-separated items."""
    columns, rows = _records(table)
    if not columns:
        return ""
    percent = {c for c in columns if "share" in str(c)} if percent is None else set(percent)
    decimals = dict(decimals or {})
    cells, numeric = [], []
    for c in columns:
        values = [r.get(c) for r in rows]
        is_number = _is_numeric(values)
        numeric.append(is_number)
        if is_number:
            cells.append(_number_cells(values, c in percent, decimals.get(c), digits, max_decimals))
        else:
            cells.append([_text(v) for v in values])
    headers = [str(c) for c in columns]
    widths = [max([len(h), *(len(x) for x in col)]) for h, col in zip(headers, cells, strict=True)]

    def line(parts: Iterable[str]) -> str:
        return "  ".join(p.rjust(w) if num else p.ljust(w)
                         for p, w, num in zip(parts, widths, numeric, strict=True)).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(col[i] for col in cells) for i in range(len(rows))]
    return "\n".join(out)


def _records(table: Any) -> tuple[list[Any], list[Mapping[str, Any]]]:
    """Column names (in order of first appearance) and rows of a DataFrame or a sequence of mappings."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        return list(table.columns), table.to_dict("records")
    rows = list(table)
    columns: dict[Any, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    return list(columns), rows


def _is_missing(v: Any) -> bool:
    """None, NaN, NaT or pandas' NA; never a list or an array (a cell of them)."""
    if v is None:
        return True
    if isinstance(v, str | bytes) or hasattr(v, "__len__"):
        return False
    try:
        return bool(v != v)  # NaN and NaT are not equal to themselves
    except TypeError:  # pandas' NA has no truth value
        return True


def _as_number(v: Any) -> float | None:
    """A real number as a float, or None for anything else (text, bools, times, lists)."""
    if isinstance(v, bool | str | bytes) or hasattr(v, "__len__") or hasattr(v, "timestamp"):
        return None
    if getattr(getattr(v, "dtype", None), "kind", "") == "b":  # numpy's bool
        return None
    if _is_missing(v) or not hasattr(v, "__float__"):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _is_numeric(values: list[Any]) -> bool:
    """True when every value that is not missing is a number, and one is."""
    present = [v for v in values if not _is_missing(v)]
    return bool(present) and all(_as_number(v) is not None for v in present)


def _number_cells(values: list[Any], as_percent: bool, chosen: int | None, digits: int,
                  max_decimals: int) -> list[str]:
    numbers = [None if _is_missing(v) else clean(_as_number(v)) for v in values]
    finite = [x for x in numbers if x is not None and math.isfinite(x)]
    if as_percent:
        return [MISSING if x is None else percent_text(x, chosen or 0) for x in numbers]
    if chosen is None:
        whole = all(x.is_integer() for x in finite)
        chosen = 0 if whole else _decimals_for(max((abs(x) for x in finite), default=0.0), digits, max_decimals)
    return [MISSING if x is None else fixed(x, chosen) if math.isfinite(x) else str(x) for x in numbers]


def _decimals_for(magnitude: float, digits: int, max_decimals: int) -> int:
    """Decimals that show ``magnitude`` with ``digits`` significant digits, between 0 and ``max_decimals``."""
    if magnitude == 0 or not math.isfinite(magnitude):
        return 0
    return min(max(digits - 1 - math.floor(math.log10(magnitude)), 0), max_decimals)


def _text(v: Any) -> str:
    if _is_missing(v):
        return MISSING
    if isinstance(v, str):
        return v
    if hasattr(v, "__len__") and hasattr(v, "__iter__") and not isinstance(v, Mapping | bytes):
        return ", ".join(_text(x) for x in v)
    if isinstance(v, float):
        return significant(v)
    return str(v)
