"""The one rule every page's figures format their axes by: tick labels that are distinct and mean what they say
(no "1 %, 1 %, 0 %", no half ticks on a count, no unlabelled digits between the decades of a log axis), decided
from the values the axis shows. Pure functions returning plotly axis settings; no Streamlit here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Literal

AxisKind = Literal["percent", "count", "number", "log", "category"]
TICKS = 6  # about how many tick steps a linear axis spans


def axis_format(values: Iterable[Any], kind: AxisKind) -> dict[str, Any]:
    """Plotly axis settings (``fig.update_yaxes(**axis_format(...))``) whose tick labels are distinct and mean
    what they say, decided from the values the axis shows (NaN and None ignored):

    - ``percent`` (fractions, 1 is 100 %), ``number``: ticks from 0 every 1, 2 or 5 times a power of ten, about
      ``TICKS`` steps over the values and 0 (bars and areas start at 0), with as many decimals as that step
      needs, so no two ticks read the same (hover text, which plotly formats like the ticks, gets more);
    - ``count``: whole-number ticks only (a step of at least 1, thousands separated), never below 0;
    - ``log``: a log axis labelled at chosen values only (decades, else 1-2-5, else every digit, else linear
      steps), each label the full number: no unlabelled minor digits between decades;
    - ``category``: the values as categories in their order, even when they read as numbers (plotly would
      make ``["0", "1", "5+"]`` a numeric axis and drop ``5+``)."""
    if kind == "category":
        return {"type": "category", "categoryorder": "array",
                "categoryarray": list(dict.fromkeys(str(v) for v in values))}
    found = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if kind == "log":
        return _log_axis([v for v in found if v > 0])
    lo, hi = min([0.0, *found]), max([0.0, *found])
    if kind == "count":
        step = max(1, round(_nice_step(hi)[0])) if hi > 0 else 1
        out: dict[str, Any] = {"tickformat": ",d", "hoverformat": ",d", "tick0": 0, "dtick": step,
                               "rangemode": "nonnegative"}
        return out if hi > 0 else out | {"range": [0, 1]}
    if kind not in ("percent", "number"):
        raise ValueError(f"unknown axis kind {kind!r}")
    step, exponent = _nice_step(hi - lo or 1.0)
    if kind == "percent":
        places = max(0, -(exponent + 2))
        return {"tickformat": f".{places}%", "hoverformat": f".{places + 1}%", "tick0": 0, "dtick": step}
    places = max(0, -exponent)
    return {"tickformat": f",.{places}f", "hoverformat": f",.{places + 2}f", "tick0": 0, "dtick": step}


def _nice_step(span: float, ticks: int = TICKS) -> tuple[float, int]:
    """The step of 1, 2 or 5 times 10**e that divides ``span`` into the number of steps nearest ``ticks``
    (by ratio), and e."""
    exponent = math.floor(math.log10(span / ticks))
    steps = [(m, exponent) for m in (1, 2, 5)] + [(1, exponent + 1)]
    mantissa, exponent = min(steps, key=lambda s: abs(math.log(span / float(f"{s[0]}e{s[1]}") / ticks)))
    return float(f"{mantissa}e{exponent}"), exponent


def _log_axis(found: list[float]) -> dict[str, Any]:
    if not found:
        return {"type": "log", "dtick": 1}  # nothing to show: decades only
    lo, hi = min(found), max(found)
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1
    for mantissas in ((1,), (1, 2, 5), range(1, 10)):
        marks = sorted(float(f"{m}e{e}") for e in range(first, last) for m in mantissas)
        below = max((v for v in marks if v <= lo), default=marks[0])
        above = min((v for v in marks if v >= hi), default=marks[-1])
        vals = [v for v in marks if below <= v <= above]
        if sum(lo <= v <= hi for v in vals) >= 3:
            break
    else:  # within one digit's step (a loss between 0.31 and 0.45): linear steps on the log axis
        step, _ = _nice_step(hi - lo or lo, 4)
        start = math.floor(lo / step)
        vals = [float(f"{k * step:.12g}") for k in range(start, math.ceil(hi / step) + 1) if k * step > 0]
    return {"type": "log", "tickmode": "array", "tickvals": vals, "ticktext": [f"{v:,.12g}" for v in vals]}
