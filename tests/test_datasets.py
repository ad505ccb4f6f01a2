"""The public datasets of ../shared/data load with every row accounted for (skipped on a fresh clone)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from igcore.datasets import load_dataset, resolve_dataset
from igcore.errors import IgcoreError


@pytest.mark.parametrize("folder, rows", [("taobao_userbehavior", 84_475), ("rees46_sample", 1_000)])
def test_cli_ingest_maps_columns_without_map_and_loads_every_row(shared_data, tmp_path, folder, rows):
    out = subprocess.run(
        [sys.executable, "-m", "igcore.cli", "ingest", str(shared_data / folder / "events.csv"),
         "--db", str(tmp_path / "s.duckdb"), "--json"], capture_output=True, text=True, check=True)
    (report,) = json.loads(out.stdout)
    assert (report["rows_read"], report["rows_loaded"]) == (rows, rows)
    assert {"user_id", "item_id", "ts", "event_type"} <= set(report["mapping"])


def test_taobao_event_types_are_canonical(shared_data, store):
    load_dataset(store, "taobao", shared_data)
    assert set(dict(store.rows("SELECT event_type, count(*) FROM events GROUP BY 1"))) == {
        "view", "cart", "wishlist", "purchase"}


def test_beauty_loads_all_rows_in_sequence_order(shared_data, store):
    items, events = load_dataset(store, "beauty", shared_data)
    assert (items.rows_loaded, events.rows_loaded) == (12_101, 198_502)
    assert store.rows("SELECT count(DISTINCT user_id), count(DISTINCT item_id) FROM events") == [(22_363, 12_101)]
    # Row order is the sequence order: the first user's first two events as in the file.
    assert store.rows("SELECT item_id FROM events WHERE user_id = '1' ORDER BY event_id LIMIT 2") == [
        ("7873",), ("6846",)]


@pytest.mark.slow
def test_toys_loads_through_the_beauty_loader_with_every_row(shared_data, store):
    assert resolve_dataset("toys")[1] is resolve_dataset("beauty")[1]  # one loader for both layouts
    items, events = load_dataset(store, "toys", shared_data)
    assert (events.rows_read, events.rows_loaded) == (167_597, 167_597)
    assert store.rows("SELECT count(DISTINCT user_id), count(DISTINCT item_id) FROM events") == [(19_412, 11_924)]
    # Ordinal times: a user's k-th event is stamped k days after the first, so time order is row order.
    rows = store.rows("SELECT item_id, ts FROM events WHERE user_id = '1' ORDER BY event_id LIMIT 2")
    assert [r[0] for r in rows] == ["1", "2"] and (rows[1][1] - rows[0][1]).days == 1


def test_industrial_rebuilds_whole_sequences(shared_data, store):
    items, events = load_dataset(store, "industrial", shared_data)
    assert items.rows_loaded == 3_686 and events.rows_duplicate == 0
    first = [r[0] for r in store.rows("SELECT item_id FROM events WHERE user_id = 'A6948' ORDER BY ts")]
    assert first[:4] == ["2909", "164", "2161", "3466"] and first[12:14] == ["3669", "3681"]


def test_unknown_dataset_lists_names():
    with pytest.raises(IgcoreError, match="valid names: beauty, industrial, rees46, sample, taobao, toys"):
        resolve_dataset("movielens")
