"""Numbers as people read them: float noise shows as 0, percents of a whole add to 100, tables are plain and
aligned; and the terminal views (an interest graph, ``igcore drift``) print them so."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from igcore.cli import main
from igcore.dp.ledger import set_settings
from igcore.interests.config import InterestConfig
from igcore.interests.drift import drift_timeline
from igcore.interests.explain import EXACT, evidence_weights, explain_item
from igcore.interests.graph import InterestGraph
from igcore.interests.nodes import InterestNodes
from igcore.interests.text import graph_text
from igcore.interests.vectors import ItemVectors
from igcore.numbers import clean, format_table, percent_labels, whole_percents
from igcore.store import Store
from tests.test_app_live import T0, build

DAY = 86400
RAW_FLOAT = re.compile(r"\d\.\d{6}")  # pandas' six decimals


# --- clean ------------------------------------------------------------------------------------------------------
def test_float_noise_becomes_zero_without_a_sign():
    assert clean(-5.7e-24) == 0.0 and math.copysign(1.0, clean(-5.7e-24)) == 1.0
    assert "e-" not in f"{clean(-5.7e-24)}" and f"{clean(-0.0)}" == "0.0"
    assert clean(0.25) == 0.25 and clean(-3e-9) == -3e-9 and clean(2e-13, eps=1e-15) == 2e-13
    assert math.isnan(clean(float("nan")))


# --- whole percents ---------------------------------------------------------------------------------------------
def test_whole_percents_add_to_100_by_largest_remainder():
    assert whole_percents([1 / 3, 1 / 3, 1 / 3]) == [34, 33, 33]  # a tie of remainders: the earlier part first
    assert whole_percents([0.625, 0.375]) == [63, 37]
    assert whole_percents([0.29, 0.71]) == [29, 71]  # 100 * 0.29 is 28.999...: no float noise in the floors
    assert whole_percents([0.004, 0.006, 0.99]) == [0, 1, 99]
    assert whole_percents([0.2, 0.2, 0.2, 0.2, 0.2]) == [20, 20, 20, 20, 20]
    assert percent_labels([1 / 3, 1 / 3, 1 / 3]) == ["34%", "33%", "33%"]
    assert whole_percents([]) == [] and whole_percents([0.0, 0.0]) == [0, 0]


def test_whole_percents_of_a_part_add_to_its_rounded_total_and_negatives_count_as_zero():
    assert whole_percents([0.125, 0.125, 0.125]) == [13, 13, 12]  # 37.5 rounds half up to 38
    assert whole_percents([1.01, -0.01]) == [101, 0]
    assert whole_percents([-0.2, 0.6, 0.6]) == [0, 60, 60]
    with pytest.raises(ValueError, match="NaN"):
        whole_percents([0.5, float("nan")])


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=30)
       .filter(lambda xs: math.fsum(xs) > 0))
def test_percents_of_shares_of_a_whole_add_to_100_and_each_is_within_1(weights):
    total = math.fsum(weights)
    shares = [w / total for w in weights]
    percents = whole_percents(shares)
    assert sum(percents) == 100
    assert all(abs(p - 100 * s) < 1 + 1e-6 for p, s in zip(percents, shares, strict=True))


# --- tables -----------------------------------------------------------------------------------------------------
def test_format_table_is_aligned_with_a_few_digits_a_column():
    frame = pd.DataFrame({"interest": ["category:Coffee", "category:Tea"], "users": [7.0, np.nan],
                          "share": [2 / 3, 1 / 3], "change": [-0.004, 0.123456], "jsd": [0.3112781, -5.7e-24],
                          "moves": [["a", "b"], []]})
    assert format_table(frame, percent={"share", "change"}) == "\n".join([
        "interest         users  share  change    jsd  moves",
        "---------------  -----  -----  ------  -----  -----",
        "category:Coffee      7    67%      0%  0.311  a, b",
        "category:Tea         –    33%     12%  0.000"])
    assert format_table([{"a": 1, "b": "x"}, {"a": 22, "c": None}], decimals={"a": 1}) == "\n".join([
        "   a  b  c",
        "----  -  -",
        " 1.0  x  –",
        "22.0  –  –"])


# --- the interest graph as text ----------------------------------------------------------------------------------
def _node(interest: str, kind: str, share: float, weight: float) -> dict:
    return {"interest": interest, "kind": kind, "label": interest.split(":")[1], "weight": weight, "share": share,
            "events": 2, "predicted": None, "top_items": []}


def _recommendation(rank: int, item: str, score: float, parts: list[tuple[str, float]]) -> dict:
    interests = [{"interest": f"category:{label}", "label": label, "contribution": share * score, "share": share}
                 for label, share in parts]
    return {"rank": rank, "item_id": item, "title": None, "score": score, "interest": None, "label": None,
            "explanation": {"item_id": item, "score": score, "method": EXACT, "interests": interests,
                            "events": [], "other_events": 0.0}}


def test_graph_text_lists_shares_that_add_to_100_without_float_noise():
    graph = InterestGraph(
        "u1", "2024-01-14T03:00:00Z", 9, ["category", "brand"], "evidence",
        [_node("category:Tea", "category", 1 / 3, 1.0), _node("category:Coffee", "category", 1 / 3, 1.0),
         _node("category:Running", "category", 1 / 3, -5.7e-24), _node("brand:Leaf", "brand", 1.0, 3.0)],
        [{"src": "category:Tea", "dst": "category:Coffee", "kind": "transition", "weight": 5.7e-24}],
        [_recommendation(1, "C2", 0.5, [("Tea", 1.01), ("Coffee", -0.01), ("Running", -5.7e-24)]),
         _recommendation(2, "B1", 0.4, [("Coffee", 0.625), ("Tea", 0.375)])],
        [])
    text = graph_text(graph)
    nodes = [int(m) for m in re.findall(r"^ +(\d+)%  ", text, flags=re.MULTILINE)]
    assert nodes == [34, 33, 33, 100] and sum(nodes[:3]) == 100  # each kind's shares are one whole
    assert "e-" not in text and "101%" not in text
    assert "    1. C2    (0.500)  because of Tea 100%" in text.splitlines()
    assert "    2. B1    (0.400)  because of Coffee 63%, Tea 37%" in text.splitlines()
    assert "  Tea -> Coffee  transition 0" in text.splitlines()
    assert "Running  (category:Running; weight 0, 2 events)" in text


def test_a_share_of_float_noise_is_zero_and_contributions_still_sum_to_the_score():
    vectors = ItemVectors(np.array(["X", "Y", "T"], dtype=object),
                          np.array([[1.0, 0.0], [1e-20, 1.0], [1.0, 0.0]], dtype=np.float32), "test")
    nodes = InterestNodes(np.array(["category:X", "category:Y"], dtype=object),
                          np.array(["category", "category"], dtype=object), np.array(["X", "Y"], dtype=object),
                          ("category",), pd.DataFrame({"item_id": ["X", "Y"], "interest": [0, 1],
                                                       "kind": ["category", "category"]}))
    events = evidence_weights(pd.DataFrame({"item_id": ["X", "Y"], "event_type": ["view", "view"],
                                            "ts": [100.0, 100.0], "weight": [1.0, 1.0], "interest": [0, 1]}),
                              vectors, 100.0, DAY)
    score = float((events["a"] * [1.0, 1e-20]).sum())
    found = explain_item(events, "T", score, vectors, nodes)
    assert [(p["label"], p["share"]) for p in found["interests"]] == [("X", 1.0), ("Y", 0.0)]
    assert math.fsum(p["contribution"] for p in found["interests"]) == pytest.approx(score, rel=1e-15)


# --- igcore drift ------------------------------------------------------------------------------------------------
@pytest.fixture
def moving_store(tmp_path: Path) -> Path:
    """Three users who moved from running and tea to coffee and tea, snapshots every second event, and a
    privacy budget whose noise is negligible."""
    db = tmp_path / "s.duckdb"
    events = []
    for u in ("u1", "u2", "u3"):
        events += [(u, i, "view", T0 + k * 3600) for k, i in enumerate(["A1", "A2", "B1", "C1"])]
        events += [(u, i, "view", T0 + 60 * DAY + k * 3600) for k, i in enumerate(["B1", "B2", "C1", "B3"])]
    build(db, events, config=InterestConfig(cadence="events:2", half_life_days=1.0))
    with Store(db) as store:
        set_settings(store, budget="100000000000", epsilon="1000000000", min_cohort=1)
    return db


@pytest.mark.slow  # a subprocess
def test_drift_prints_plain_tables_without_raw_floats(moving_store: Path):
    out = subprocess.run([sys.executable, "-m", "igcore.cli", "drift", "--db", str(moving_store), "--changes"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not RAW_FLOAT.search(out.stdout) and "e-" not in out.stdout and "NaN" not in out.stdout
    lines = out.stdout.splitlines()
    assert lines[:3] == ["rising:", "  interest          label    users  share_before  share_after  change",
                         "  ----------------  -------  -----  ------------  -----------  ------"]
    assert re.fullmatch(r"  category:Coffee   Coffee       3 +\d+% +\d+% +\d+%", lines[3])
    assert "  1                  –" in lines  # a suppressed count of the change points


def test_drift_of_one_user_shows_divergence_with_two_decimals(moving_store: Path, capsys):
    assert main(["drift", "--db", str(moving_store), "--user", "u1"]) == 0
    out = capsys.readouterr().out
    assert not RAW_FLOAT.search(out)
    lines = out.splitlines()
    assert lines[1].split() == ["snapshot_no", "snapshot_at", "n_events", "top_interest", "jsd", "emerging",
                                "fading"]
    with Store(moving_store, read_only=True) as store:
        stored = drift_timeline(store, "u1")
    assert len(lines) == 3 + len(stored) and any(0.01 < j < 0.99 for j in stored["jsd"].dropna())
    assert [line.split()[5] for line in lines[3:]] == ["–" if np.isnan(j) else f"{j:.2f}" for j in stored["jsd"]]
