"""Axes a new user can read: the one rule (igcore.dashboard.overview.axis_format) every figure's axes follow,
checked directly, and the Home and Cohorts pages under AppTest on the bundled sample (and one tiny store):
tick labels that never repeat, whole-number ticks on counts, categories that stay categories, and an import
table whose counts come before a short sha256."""

from __future__ import annotations

import base64
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from igcore.dashboard.axes import axis_format
from igcore.dashboard.overview import IMPORT_COLUMNS, import_table
from igcore.dp.ledger import set_settings
from igcore.ingest import import_events, import_items
from igcore.interests.config import InterestConfig
from igcore.interests.snapshots import build_snapshots
from igcore.store import Store
from tests.conftest import REPO, use_store_copy, write_csv

NAN = math.nan


# --- reading a figure's spec as plotly would draw it ----------------------------------------------------------
def values(v: list | dict) -> list:
    """A trace's x or y: plotly ships numbers as base64 typed arrays."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def figures(at: AppTest) -> dict[str, dict]:
    """The page's figures by title."""
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def tick_labels(axis: dict, shown: list[float]) -> list[str]:
    """The labels of the ticks a linear axis with ``tick0``/``dtick`` draws over ``shown`` and 0, formatted by
    its ``tickformat`` (d3's ``.Nf``, ``.N%`` and ``,d`` read as Python's)."""
    finite = [v for v in shown if math.isfinite(v)]
    lo, hi = min([0.0, *finite]), max([0.0, *finite])
    step, start = axis["dtick"], axis["tick0"]
    ticks = [start + k * step for k in range(math.ceil((lo - start) / step - 1e-9),
                                             math.floor((hi - start) / step + 1e-9) + 1)]
    if axis["tickformat"] == ",d":
        assert all(t == round(t) for t in ticks), ticks  # a count axis never gets a tick between two counts
        return [f"{round(t):,d}" for t in ticks]
    return [format(t, axis["tickformat"]) for t in ticks]


def assert_distinct_ticks(axis: dict, shown: list[float], least: int = 3) -> None:
    labels = tick_labels(axis, shown)
    assert len(labels) >= least, labels
    assert len(set(labels)) == len(labels), labels


# --- the rule itself ------------------------------------------------------------------------------------------
def test_a_percent_axis_over_a_few_percent_gets_the_decimals_its_step_needs():
    # the sample's rising and fading interests: about -1 to +2 percentage points
    assert axis_format([-0.0114, 0.018, NAN], "percent") == {
        "tickformat": ".1%", "hoverformat": ".2%", "tick0": 0, "dtick": 0.005}
    assert axis_format([0.0004], "percent") == {"tickformat": ".3%", "hoverformat": ".4%", "tick0": 0,
                                                "dtick": 0.00005}
    assert axis_format([0.3, 1.3], "percent") == {"tickformat": ".0%", "hoverformat": ".1%", "tick0": 0,
                                                  "dtick": 0.2}
    assert axis_format([], "percent") == {"tickformat": ".0%", "hoverformat": ".1%", "tick0": 0, "dtick": 0.2}


def test_percent_and_number_ticks_never_repeat_whatever_the_range():
    for top in np.geomspace(1e-5, 50, 157):
        for shown in ([top], [-top / 3, top], [-top]):
            for kind in ("percent", "number"):
                assert_distinct_ticks(axis_format(shown, kind), shown)


def test_a_count_axis_gets_whole_number_ticks_from_zero():
    small = {"tickformat": ",d", "hoverformat": ",d", "tick0": 0, "dtick": 1, "rangemode": "nonnegative"}
    assert axis_format([3, NAN, NAN], "count") == small  # three users in one bin, the others suppressed
    assert axis_format([NAN, None], "count") == small | {"range": [0, 1]}  # all suppressed: not -1 to 4
    assert axis_format([1143, 842, 10], "count")["dtick"] == 200
    assert axis_format([115_000, 22_000, 13_000], "count")["dtick"] == 20_000
    for top in [1, 2, 3, 5, 7, 10, 13, 40, 99, 1234, 98_765, 2_000_001]:
        axis = axis_format([top], "count")
        assert isinstance(axis["dtick"], int) and axis["dtick"] >= 1
        assert_distinct_ticks(axis, [top], least=2 if top < 2 else 3)


def test_a_log_axis_is_labelled_with_whole_numbers_at_chosen_values_only():
    # a loss between 1,200 and 18,000: plotly's own minor labels read "2, 10k, 5, 2, 1000"
    assert axis_format([18_000, 5_300, 1_200], "log") == {
        "type": "log", "tickmode": "array", "tickvals": [1000.0, 2000.0, 5000.0, 10000.0, 20000.0],
        "ticktext": ["1,000", "2,000", "5,000", "10,000", "20,000"]}
    wide = axis_format([0.002, 3, 40_000], "log")  # several decades: the decades alone
    assert wide["tickvals"] == [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0]
    assert wide["ticktext"] == ["0.001", "0.01", "0.1", "1", "10", "100", "1,000", "10,000", "100,000"]
    narrow = axis_format([0.45, 0.31, 0.38, 0, NAN], "log")  # within one digit: linear steps, zero left out
    assert narrow["tickvals"] == [0.3, 0.35, 0.4, 0.45] and narrow["ticktext"] == ["0.3", "0.35", "0.4", "0.45"]
    for axis in (wide, narrow):
        assert len(set(axis["ticktext"])) == len(axis["ticktext"])


def test_categories_that_read_as_numbers_stay_categories_in_their_order():
    assert axis_format(["0", "1", "2", "3", "4", "5+"], "category") == {
        "type": "category", "categoryorder": "array", "categoryarray": ["0", "1", "2", "3", "4", "5+"]}
    assert axis_format(["view", "7", "view"], "category")["categoryarray"] == ["view", "7"]


def test_import_table_puts_the_counts_first_and_cuts_the_sha256(store):
    sha = "f6501571f3347eaefbbed9bf7013f956e1ca85412b433dc95e41f62b321b600d"
    log = store.imports()  # the real log's columns, no rows
    log = log.astype(object)
    log.loc[0] = {c: None for c in log.columns} | {"import_id": 1, "kind": "events", "file_name": "e.csv",
                                                   "sha256": sha, "rows_loaded": 5, "mapping": "{}"}
    table = import_table(log)
    assert list(table.columns) == IMPORT_COLUMNS
    assert table["sha256"].tolist() == [sha[:12]] and table["rows_loaded"].tolist() == [5]


# --- the pages on the bundled sample --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_pages(prepared_sample: Path, tmp_path_factory) -> dict:
    """Home and Cohorts as a new user first sees them on the sample: one run of each, shared by the tests."""
    with pytest.MonkeyPatch.context() as mp:
        path = use_store_copy(prepared_sample, tmp_path_factory.mktemp("charts"), mp)
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
        assert not at.exception and not at.error
        home = {"figures": figures(at), "tables": [d.value for d in at.dataframe]}
        at.switch_page("pages/cohorts.py").run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        with Store(path, read_only=True) as store:
            shas = store.imports()["sha256"].tolist()
    return {"home": home, "cohorts": figures(at), "shas": shas}


def test_home_event_mix_has_whole_number_ticks_and_event_types_as_categories(sample_pages):
    fig = sample_pages["home"]["figures"]["Event-type mix"]
    events = values(fig["data"][0]["y"])
    assert fig["layout"]["yaxis"] | axis_format(events, "count") == fig["layout"]["yaxis"]
    assert fig["layout"]["yaxis"]["dtick"] == 20_000  # 150,000 events, most of them views
    assert_distinct_ticks(fig["layout"]["yaxis"], events)
    assert fig["layout"]["xaxis"]["type"] == "category"
    assert fig["layout"]["xaxis"]["categoryarray"] == values(fig["data"][0]["x"])


def test_home_import_table_shows_the_counts_before_a_short_sha256(sample_pages):
    table = sample_pages["home"]["tables"][0]
    assert list(table.columns) == IMPORT_COLUMNS  # counts right after the file, no mapping or notes
    assert table["rows_loaded"].tolist() == [1500, 150000]
    assert table["sha256"].tolist() == [sha[:12] for sha in sample_pages["shas"]]
    assert all(len(sha) == 64 for sha in sample_pages["shas"])


def test_cohort_trend_ticks_read_distinct_percentages(sample_pages):
    fig = sample_pages["cohorts"]["Change in mean share"]
    changes = [v for trace in fig["data"] for v in values(trace["y"])]
    assert max(abs(v) for v in changes) < 0.1  # a few percent: ".0%" labels would repeat
    axis = fig["layout"]["yaxis"]
    assert axis == axis | axis_format(changes, "percent")
    assert_distinct_ticks(axis, changes)
    labels = [x for trace in fig["data"] for x in values(trace["x"])]
    assert fig["layout"]["xaxis"]["type"] == "category" and fig["layout"]["xaxis"]["categoryarray"] == labels


def test_cohort_popularity_ticks_cover_the_stacked_shares(sample_pages):
    fig = sample_pages["cohorts"]["Mean share of the users active each week"]
    stacked: dict[str, float] = defaultdict(float)
    for trace in fig["data"]:
        for week, share in zip(values(trace["x"]), values(trace["y"])):
            stacked[week] += share if math.isfinite(share) else 0.0
    axis = fig["layout"]["yaxis"]
    assert axis == axis | axis_format(list(stacked.values()), "percent")
    assert_distinct_ticks(axis, list(stacked.values()))


def test_cohort_drift_and_change_point_counts_get_whole_number_ticks(sample_pages):
    drift = sample_pages["cohorts"]["Users by mean change between snapshots (JSD)"]
    users = values(drift["data"][0]["y"])
    assert drift["layout"]["yaxis"] == drift["layout"]["yaxis"] | axis_format(users, "count")
    assert_distinct_ticks(drift["layout"]["yaxis"], users)
    assert drift["layout"]["xaxis"] | {"tick0": 0, "dtick": 0.2, "tickformat": ",.1f"} == drift["layout"]["xaxis"]

    points = sample_pages["cohorts"]["Change points per user"]
    users = values(points["data"][0]["y"])
    assert points["layout"]["yaxis"] == points["layout"]["yaxis"] | axis_format(users, "count")
    assert_distinct_ticks(points["layout"]["yaxis"], users)
    # "0".."4" read as numbers: without the category type plotly draws a numeric axis and drops the "5+" bar
    assert points["layout"]["xaxis"] | {"type": "category", "categoryorder": "array",
                                        "categoryarray": ["0", "1", "2", "3", "4", "5+"]} == points["layout"]["xaxis"]


# --- a tiny store: counts of a few users ----------------------------------------------------------------------
@pytest.fixture
def tiny_cohort(tmp_path: Path, monkeypatch) -> Path:
    """Three users who viewed a running shoe, then (60 days later) only coffee; releases nearly exact."""
    day, t0 = 86400, 1_700_006_400
    events = [(u, item, t0 + offset + k * 3600) for u in ("u1", "u2", "u3")
              for item, offset in (("A1", 0), ("B1", 60 * day)) for k in range(4)]
    path = tmp_path / "tiny.duckdb"
    with Store(path) as store:
        import_items(store, write_csv(tmp_path / "items.csv", "item_id,title,category\nA1,Trail Shoe,Running\n"
                                      "B1,Espresso Beans,Coffee\nC1,Green Tea,Tea\n"))
        import_events(store, write_csv(tmp_path / "events.csv", "user_id,item_id,event_type,timestamp\n"
                                       + "".join(f"{u},{i},view,{ts}\n" for u, i, ts in events)))
        build_snapshots(store, InterestConfig(cadence="events:4", half_life_days=1.0))
        set_settings(store, budget="100000000000", epsilon="1000000000", min_cohort=1)
    monkeypatch.setenv("IGCORE_DB", str(path))
    return path


def test_cohort_counts_of_three_users_get_ticks_at_whole_users(tiny_cohort):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("pages/cohorts.py").run()
    assert not at.exception and not at.error
    found = figures(at)
    points = found["Change points per user"]
    assert values(points["data"][0]["y"])[0] == 3  # the other bins are suppressed (NaN)
    assert points["layout"]["yaxis"] | {"dtick": 1, "tick0": 0, "tickformat": ",d",
                                        "rangemode": "nonnegative"} == points["layout"]["yaxis"]
    assert tick_labels(points["layout"]["yaxis"], values(points["data"][0]["y"])) == ["0", "1", "2", "3"]
    assert points["layout"]["xaxis"]["type"] == "category"
    drift = found["Users by mean change between snapshots (JSD)"]
    assert drift["layout"]["yaxis"]["dtick"] == 1 and drift["layout"]["yaxis"]["tickformat"] == ",d"
    trend = found["Change in mean share"]  # every user went from running to coffee: shares move by 100 points
    assert trend["layout"]["yaxis"] | {"tickformat": ".0%", "dtick": 0.5, "tick0": 0} == trend["layout"]["yaxis"]
