"""Interest graphs on small constructed logs in a real DuckDB store: exact weights, emergence at the right
snapshot, incremental updates that touch only new events' users, attribution that adds up, inert HTML export,
and the CLI commands."""

from __future__ import annotations

import dataclasses
import html
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from igcore.config import load_config
from igcore.errors import IgcoreError
from igcore.evaluate.baselines import MostPop
from igcore.events import load_interactions
from igcore.ingest import import_events, import_items
from igcore.interests.changes import detect_changes, evaluate_detections, jsd_terms
from igcore.interests.config import InterestConfig
from igcore.interests.drift import cohort
from igcore.interests.events import from_columns, user_chunks
from igcore.interests.export import graph_html, graph_json
from igcore.interests.graph import interest_graph
from igcore.interests.nodes import build_nodes, load_nodes
from igcore.interests.scoring import ModelScorer, candidate_pool, evidence_top_k, predicted_shares
from igcore.interests.snapshots import build_snapshots, timeline, update_snapshots
from igcore.interests.staging import TABLE_ORDER
from igcore.interests.vectors import ItemVectors
from igcore.store import Store
from igcore.synth import SynthConfig, generate
from tests.conftest import write_csv

DAY = 86400
T0 = 1_700_006_400  # 2023-11-15 00:00:00 UTC
TABLES = {"interest_snapshots": ["user_id", "snapshot_no"],
          "interest_weights": ["user_id", "snapshot_no", "interest", "kind"],
          "interest_edges": ["user_id", "snapshot_no", "kind", "src", "dst"],
          "recommendation_snapshots": ["user_id", "snapshot_no", "scorer", "rank"],
          "interest_changes": ["user_id", "event_index"]}
CATALOGUE = [("A1", "Trail Running Shoe", "Running", "Stride"), ("A2", "Road Running Shoe", "Running", "Stride"),
             ("A3", "Running Sock", "Running", "Pacer"), ("B1", "Espresso Beans", "Coffee", "Crema"),
             ("B2", "Ground Coffee", "Coffee", "Crema"), ("B3", "Coffee Grinder", "Coffee", "Moka"),
             ("C1", "Green Tea", "Tea", "Leaf"), ("C2", "Tea Pot", "Tea", "Leaf")]


def load(store: Store, tmp: Path, events: list[tuple], items: list[tuple] = CATALOGUE, name: str = "e") -> None:
    """Import (user, item, type, unix seconds) rows, and the catalogue the first time, through the importers."""
    if not store.value("SELECT count(*) FROM items"):
        rows = "\n".join(",".join(f'"{c}"' for c in row) for row in items)
        import_items(store, write_csv(tmp / "items.csv", "item_id,title,category,brand\n" + rows + "\n"))
    lines = "\n".join(f"{u},{i},{t},{ts}" for u, i, t, ts in events)
    header = "user_id,item_id,event_type,timestamp\n"
    report = import_events(store, write_csv(tmp / f"{name}.csv", header + lines + "\n"))
    assert report.rows_loaded == len(events)


def rows(store: Store) -> dict[str, pd.DataFrame]:
    return {t: store.df(f"SELECT * FROM {t}").sort_values(k, ignore_index=True) for t, k in TABLES.items()}


def weights(store: Store, user: str, no: int) -> dict[str, tuple[float, float, int]]:
    found = store.rows("SELECT interest, weight, share, events FROM interest_weights WHERE user_id = ? AND "
                       "snapshot_no = ?", [user, no])
    return {i: (w, s, n) for i, w, s, n in found}


# --- weights --------------------------------------------------------------------------------------------------
def test_decayed_weights_are_exact(store, tmp_path):
    load(store, tmp_path, [("u1", "A1", "view", T0), ("u1", "A2", "purchase", T0 + DAY),
                           ("u1", "B1", "cart", T0 + 2 * DAY), ("u1", "B2", "review", T0 + 3 * DAY),
                           ("u1", "B1", "view", T0 + 4 * DAY)])
    config = InterestConfig(half_life_days=1.0, cadence="events:3")
    assert config.type_weight("view") < config.type_weight("cart") < config.type_weight("wishlist") \
        < config.type_weight("purchase") and config.type_weight("review") == 1.0
    build_snapshots(store, config)
    assert weights(store, "u1", 1)["category:Running"][0] == 1.0  # at the first event: a view of weight 1
    first = weights(store, "u1", 2)  # at the 3rd event, T0 + 2 days
    assert first["category:Running"][0] == pytest.approx(1 * 0.25 + 5 * 0.5, rel=1e-12)
    assert first["category:Coffee"][0] == pytest.approx(2.0, rel=1e-12)
    assert first["category:Running"][1] == pytest.approx(2.75 / 4.75, rel=1e-12)
    assert first["category:Running"][2] == 2 and first["category:Coffee"][2] == 1
    assert store.value("SELECT count(*) FROM interest_snapshots WHERE user_id = 'u1'") == 2  # the 1st and 3rd event
    edges = store.rows("SELECT src, dst, kind, weight FROM interest_edges WHERE user_id = 'u1'")
    assert edges == [("category:Running", "category:Coffee", "transition", 1.0)]
    graph = interest_graph(store, "u1", pd.Timestamp(T0 + 5 * DAY, unit="s").to_pydatetime())
    by = {n["interest"]: n for n in graph.nodes}
    assert by["category:Running"]["weight"] == pytest.approx((0.25 * 0.25 + 5 * 0.125) * 0.5, rel=1e-12)
    assert by["category:Coffee"]["weight"] == pytest.approx(2 * 0.125 + 1 * 0.25 + 1 * 0.5, rel=1e-12)
    assert by["category:Coffee"]["predicted"] is None  # no model: nothing predicted
    assert graph.edges[0]["weight"] == pytest.approx(0.125, rel=1e-12)
    assert [i["item_id"] for i in by["category:Coffee"]["top_items"]] == ["B1", "B2"]


@pytest.mark.parametrize("block", [4096, 2])
def test_predicted_shares_are_the_softmax_summed_per_interest(block, monkeypatch):
    monkeypatch.setattr("igcore.interests.scoring.ITEM_BLOCK", block)  # one block, or blocks across interests
    scores = np.log(np.array([[1.0, 2.0, 1.0, 1.0], [4.0, 1.0, 1.0, 2.0]], dtype=np.float32))
    shares = predicted_shares(scores, np.array([0, 0, 1, -1]), 3)  # the last item is in no interest
    assert shares.dtype == np.float64
    assert np.allclose(shares, [[3 / 5, 1 / 5, 0.0], [5 / 8, 1 / 8, 0.0]], atol=1e-7)
    assert predicted_shares(scores[:0], np.array([0, 0, 1, -1]), 3).shape == (0, 3)


def test_config_layers_and_checks(tmp_path):
    file = tmp_path / "interests.toml"
    file.write_text('cadence = "week"\nhalf_life_days = 3.0\n')
    config = load_config(InterestConfig, file, {"event_type_weights": '{"view": 1, "purchase": 9}', "top_k": "5"})
    assert (config.cadence, config.half_life_days, config.top_k, config.type_weight("purchase")) == ("week", 3.0, 5, 9)
    assert InterestConfig.from_json(config.to_json()) == config
    for bad in ({"cadence": "hourly"}, {"source": "colour"}, {"half_life_days": "0"}):
        with pytest.raises(IgcoreError):
            load_config(InterestConfig, None, bad)


# --- emergence and change points ------------------------------------------------------------------------------
def test_planted_new_interest_emerges_at_the_right_snapshot(store, tmp_path):
    events = [("u1", f"A{1 + k % 3}", "view", T0 + k * 3600) for k in range(10)]
    events += [("u1", f"B{1 + k % 3}", "view", T0 + (10 + k) * 3600) for k in range(10)]
    load(store, tmp_path, events)
    config = InterestConfig(half_life_days=1e6, cadence="events:5", drift_min_history=5, drift_min_after=5,
                            drift_window_before=10, drift_window_after=10)
    build_snapshots(store, config)
    snaps = timeline(store, "u1").snapshots
    assert snaps["n_events"].tolist() == [1, 5, 10, 15, 20]
    assert [list(x) for x in snaps["emerging"]] == [[], [], [], ["category:Coffee"], []]
    assert [list(x) for x in snaps["fading"]] == [[], [], [], ["category:Running"], []]
    p, q = np.array([1.0, 0.0]), np.array([2 / 3, 1 / 3])
    assert snaps["jsd"].iloc[3] == pytest.approx(jsd_terms(p, q).sum(), rel=1e-6)
    assert snaps["jsd"].iloc[1] == snaps["jsd"].iloc[2] == 0.0 and np.isnan(snaps["jsd"].iloc[0])
    changes = timeline(store, "u1").changes
    assert changes[["event_index", "interest", "faded"]].values.tolist() == [[10, "category:Coffee",
                                                                             "category:Running"]]


def test_detector_finds_planted_drift_in_a_generated_log():
    log = generate(SynthConfig(seed=5, n_users=300, n_items=300, n_events=25_000))
    ev = pd.DataFrame(log.events, columns=["user_id", "item_id", "event_type", "timestamp", "session_id"])
    cat = {i[0]: i[2] for i in log.items}
    config = InterestConfig()
    users = from_columns(ev["user_id"], ev["item_id"], ev["event_type"],
                         pd.to_datetime(ev["timestamp"]).astype("int64") // 10**9, None, config)
    names = pd.Index(sorted(set(cat.values())))
    found = detect_changes(users, names.get_indexer(pd.Series(users.item_ids).map(cat)), config)
    found["user_id"] = users.user_ids[found["user"].to_numpy(int)]
    truth = pd.DataFrame(log.drift, columns=["user_id", "event_index", "timestamp", "old", "new"])
    score = evaluate_detections(found, truth, tolerance=20)
    assert score["f1"] >= 0.75 and score["median_abs_lag"] <= 2, score


def test_evaluation_matches_each_planted_change_once():
    truth = pd.DataFrame({"user_id": ["a", "b"], "event_index": [30, 40]})
    found = pd.DataFrame({"user_id": ["a", "a", "c", "b"], "event_index": [28, 33, 10, 70]})
    score = evaluate_detections(found, truth, tolerance=20)
    assert (score["tp"], score["fp"], score["fn"]) == (1, 3, 1) and score["median_lag"] == -2


# --- incremental updates --------------------------------------------------------------------------------------
def _four_users() -> list[tuple]:
    out = []
    for u, items in (("u1", "A1 A2 B1 A3 A1 B2 A2"), ("u2", "B1 B2 B3 B1 A1 A2 B2 B3"), ("u3", "C1 C2 C1 A1 C2"),
                     ("u4", "A1 A2 A3 A1 A2 A3")):
        for k, item in enumerate(items.split()):
            out.append((u, item, "purchase" if k % 3 == 2 else "view", T0 + k * 7200 + int(u[1]) * 60))
    return out


@pytest.mark.parametrize("cadence", ["events:2", "day"])
def test_incremental_update_touches_only_new_events_users(store, db_path, tmp_path, cadence):
    config = InterestConfig(cadence=cadence, top_k=3)
    load(store, tmp_path, _four_users())
    build_snapshots(store, config)
    before = rows(store)
    assert update_snapshots(store).new_events == 0
    later = [("u2", "C1", "view", T0 + DAY + 100), ("u2", "C2", "cart", T0 + DAY + 200),
             ("u2", "C1", "purchase", T0 + DAY + 300)]
    if cadence == "day":  # one event on the day of u2's last snapshot: that day's snapshot must be redone
        later.append(("u2", "B1", "view", T0 + 8 * 7200))
    load(store, tmp_path, later, name="later")
    report = update_snapshots(store)
    assert (report.users, report.new_events) == (1, len(later))
    after = rows(store)
    for table, frame in after.items():
        old = before[table]
        pd.testing.assert_frame_equal(old[old["user_id"] != "u2"].reset_index(drop=True),
                                      frame[frame["user_id"] != "u2"].reset_index(drop=True))
    snaps_before, snaps_after = before["interest_snapshots"], after["interest_snapshots"]
    kept = snaps_before[(snaps_before["user_id"] == "u2") & (snaps_before["snapshot_no"] < (4 if cadence != "day"
                                                                                             else 1))]
    assert len(snaps_after[snaps_after["user_id"] == "u2"]) > len(kept)
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), snaps_after[snaps_after["user_id"] == "u2"].head(
        len(kept)).reset_index(drop=True))
    # The update equals a rebuild from scratch on the same events.
    copy = tmp_path / "copy.duckdb"
    store.con.execute("CHECKPOINT")
    shutil.copy(db_path, copy)
    with Store(copy) as fresh:
        build_snapshots(fresh, config)
        rebuilt = rows(fresh)
    for table in TABLES:
        a, b = rebuilt[table], after[table]
        assert len(a) == len(b), table
        for col in a.columns:
            if a[col].dtype.kind == "f":
                assert np.allclose(a[col].fillna(-1), b[col].fillna(-1), rtol=1e-9, atol=1e-12), (table, col)
            else:
                assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), (table, col)


def test_update_needs_a_build_first(store, tmp_path):
    load(store, tmp_path, _four_users())
    with pytest.raises(IgcoreError, match="build them first"):
        update_snapshots(store)


def test_users_are_cut_into_runs_of_events_and_chunked_passes_write_the_same_rows(store, db_path, tmp_path):
    load(store, tmp_path, _four_users())  # u1 7 events, u2 8, u3 5, u4 6
    assert user_chunks(store, 13) == [["u1"], ["u2", "u3"], ["u4"]]
    assert user_chunks(store, 13, ["u4", "u1"]) == [["u1", "u4"]]
    assert user_chunks(store, 1) == [["u1"], ["u2"], ["u3"], ["u4"]]  # a user never splits
    config = InterestConfig(cadence="events:2", top_k=3)
    whole = build_snapshots(store, config)
    expected = rows(store)
    chunked = build_snapshots(store, config, chunk_events=8)
    assert dataclasses.astuple(chunked)[:4] == dataclasses.astuple(whole)[:4]
    for table, frame in rows(store).items():
        pd.testing.assert_frame_equal(expected[table], frame)
    for table, order in TABLE_ORDER.items():  # stored chunk after chunk in the order one-user reads want
        keys = store.df(f"SELECT {order} FROM {table}")
        assert keys.equals(keys.sort_values(order.split(", "), ignore_index=True)), table
    assert not store.rows("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_staged_%'")  # gone
    load(store, tmp_path, [("u1", "C1", "view", T0 + DAY), ("u3", "B3", "cart", T0 + DAY)], name="later")
    store.con.execute("CHECKPOINT")
    shutil.copy(db_path, tmp_path / "copy.duckdb")
    assert update_snapshots(store, chunk_events=1).new_events == 2
    with Store(tmp_path / "copy.duckdb") as other:
        update_snapshots(other)
        for table, frame in rows(other).items():
            pd.testing.assert_frame_equal(rows(store)[table], frame)


def test_candidate_pool_takes_each_interests_most_used_items_in_turn():
    uses, codes = np.array([5, 1, 9, 3, 0, 7]), np.array([0, 0, 1, 1, -1, 0])
    # first round: row 2 (9 uses), row 5 (7), row 4 (no interest, 0); second round: row 0 (5), row 3 (3); ...
    assert candidate_pool(uses, codes, 4).tolist() == [0, 2, 4, 5]
    assert candidate_pool(uses, codes, 5).tolist() == [0, 2, 3, 4, 5]
    assert candidate_pool(uses, codes, 6) is None  # everything fits: exact over the catalogue


@pytest.mark.parametrize("pool", [None, np.array([1, 4, 5, 8, 9])])
def test_evidence_top_k_equals_scoring_every_point_by_hand(pool):
    rng = np.random.default_rng(3)
    vectors = ItemVectors(np.array([f"i{k}" for k in range(12)], dtype=object),
                          rng.normal(size=(12, 4)).astype(np.float32), "test", pool)
    n_points = 600  # more than one chunk of points, a point's triples may straddle a chunk of triples
    point = np.sort(rng.integers(0, n_points - 1, 2000))  # the last point has no evidence
    item, weight = rng.integers(0, 12, 2000), rng.random(2000)
    cols, vals = evidence_top_k(point, item, weight, n_points, vectors, 3, exclude_seen=True)
    rows = np.arange(12) if pool is None else pool
    for p in range(n_points):
        mine = point == p
        if not mine.any():
            assert (cols[p] == -1).all()
            continue
        q = (weight[mine, None] * vectors.matrix[item[mine]].astype(np.float64)).sum(0) / weight[mine].sum()
        scores = {r: q @ vectors.matrix[r] for r in rows if r not in set(item[mine])}
        best = sorted(scores, key=lambda r: (-scores[r], r))[:3]
        assert cols[p][cols[p] >= 0].tolist() == best
        assert np.allclose(vals[p][:len(best)], [scores[r] for r in best])


def test_evidence_scores_that_differ_only_in_their_last_bits_are_a_tie_that_goes_to_the_lower_row():
    # Rows 1 and 2 are the same item vector up to a difference far below the score's rounding, as two items with
    # the same text are after matrix products over different chunks of users: row 2's raw score is higher.
    matrix = np.array([[1.0, 0.0], [0.6, 0.8], [0.6, 0.8 + 1e-13], [0.0, 1.0]])
    vectors = ItemVectors(np.array(["a", "b", "c", "d"], dtype=object), matrix, "test")
    cols, vals = evidence_top_k(np.array([0]), np.array([0]), np.array([1.0]), 1, vectors, 3, exclude_seen=True)
    assert cols[0].tolist() == [1, 2, 3] and vals[0].tolist() == [0.6, 0.6, 0.0]


def test_evidence_scorer_ranks_within_its_stored_pool(store, tmp_path):
    load(store, tmp_path, _four_users())  # uses: A1 6, A2 5, A3 3, B1 3, B2 3, B3 2, C1 2, C2 2
    config = InterestConfig(top_k=8, evidence_pool=4, exclude_seen=False)
    build_snapshots(store, config)
    pool = {"A1", "B1", "C1", "A2"}  # each category's most used item, then Running's second
    assert set(json.loads(store.value("SELECT value FROM interest_state WHERE key = 'evidence_pool'"))) == pool
    _, vectors = load_nodes(store)
    assert set(vectors.item_ids[vectors.candidates]) == pool
    assert set(store.df("SELECT item_id FROM recommendation_snapshots")["item_id"]) == pool
    assert store.value("SELECT max(rank) FROM recommendation_snapshots") == 4
    # One user's graph reads only its items' and the pool's vectors, and ranks as the stored snapshot did.
    graph = [(r["rank"], r["item_id"], round(r["score"], 12)) for r in interest_graph(store, "u3").recommendations]
    stored = store.rows("SELECT rank, item_id, round(score, 12) FROM recommendation_snapshots WHERE user_id = 'u3' "
                        "AND snapshot_no = 2 ORDER BY rank")
    assert graph == stored and len(graph) == 4
    _, few = load_nodes(store, ["C1", "A3"])
    assert sorted(few.item_ids) == ["A1", "A2", "A3", "B1", "C1"] and set(few.item_ids[few.candidates]) == pool


# --- recommendations and explanations -------------------------------------------------------------------------
def test_evidence_attribution_sums_to_the_score(store, tmp_path):
    load(store, tmp_path, _four_users())
    graph = interest_graph(store, "u1", config=InterestConfig(top_k=5, exclude_seen=False))
    assert graph.scorer == "evidence" and len(graph.recommendations) == 5
    for rec in graph.recommendations:
        why = rec["explanation"]
        assert why["method"] == "exact"
        assert sum(p["contribution"] for p in why["interests"]) == pytest.approx(rec["score"], abs=1e-9)
        assert sum(e["contribution"] for e in why["events"]) + why["other_events"] == pytest.approx(rec["score"],
                                                                                                     abs=1e-9)
        assert sum(p["share"] for p in why["interests"]) == pytest.approx(1.0, abs=1e-9)
    assert graph.recommendations[0]["item_id"] in {"A1", "A2", "A3", "B1", "B2"}  # seen items allowed: its own


def test_model_predictions_lists_and_attribution(store, tmp_path):
    load(store, tmp_path, _four_users())
    data = load_interactions(store)
    model = MostPop()
    model.fit(data)
    scorer = ModelScorer(model, data.user_ids, data.item_ids)
    build_snapshots(store, InterestConfig(cadence="events:2", top_k=3), scorer)
    latest = store.rows("SELECT user_id, max(snapshot_no) FROM interest_snapshots GROUP BY 1")
    for user, last in latest:
        predicted = store.rows("SELECT snapshot_no, predicted FROM interest_weights WHERE user_id = ?", [user])
        assert all((p is not None) == (no == last) for no, p in predicted)
        assert store.value("SELECT min(snapshot_no) FROM recommendation_snapshots WHERE user_id = ? AND scorer = "
                           "'model'", [user]) == last
    graph = interest_graph(store, "u3", model=scorer)
    assert graph.scorer == "model"
    assert sum(n["predicted"] for n in graph.nodes) == pytest.approx(1.0, abs=1e-9)  # every item has a category
    assert "C1" not in {r["item_id"] for r in graph.recommendations}  # seen items left out
    for rec in graph.recommendations:
        why = rec["explanation"]
        assert why["method"] == "similarity-weighted evidence"
        assert sum(p["contribution"] for p in why["interests"]) == pytest.approx(rec["score"], rel=1e-9)
        assert sum(p["share"] for p in why["interests"]) == pytest.approx(1.0, abs=1e-9)


def test_rank_changes_are_stored(store, tmp_path):
    load(store, tmp_path, _four_users())
    build_snapshots(store, InterestConfig(cadence="events:2", top_k=3, exclude_seen=False))
    recs = timeline(store, "u2").recommendations
    first, second = recs[recs["snapshot_no"] == 1], recs[recs["snapshot_no"] == 2]
    assert first["prev_rank"].isna().all()
    for item, prev in zip(second["item_id"], second["prev_rank"]):
        ranks = first.set_index("item_id")["rank"]
        assert (pd.isna(prev) and item not in ranks.index) or prev == ranks[item]


# --- nodes ----------------------------------------------------------------------------------------------------
def test_clusters_get_readable_labels_or_attribute_ids(store, tmp_path):
    items = [(f"I{k}", f"{w} {n} X{k}", "", "") for k, (w, n) in enumerate(
        [("Dark", "Coffee Beans"), ("Light", "Coffee Beans"), ("Decaf", "Coffee Beans"), ("Green", "Tea Leaves"),
         ("Black", "Tea Leaves"), ("White", "Tea Leaves")])]
    load(store, tmp_path, [("u1", "I0", "view", T0)], items=items)
    nodes, _ = build_nodes(store, InterestConfig(source="cluster", n_clusters=2))
    assert sorted(nodes.label) == ["beans, coffee, dark", "leaves, tea, black"]  # model numbers X0.. left out
    groups = nodes.codes(np.array([f"I{k}" for k in range(6)], dtype=object), "cluster")
    assert len(set(groups[:3])) == 1 and len(set(groups[3:])) == 1 and groups[0] != groups[3]


def test_auto_falls_back_to_clusters_labelled_by_attribute_ids(store, tmp_path):
    items = [(f"I{k}", "", f"a{k};a{100 + k % 2}", "") for k in range(300)]  # ids only, 300 category strings
    load(store, tmp_path, [("u1", "I0", "view", T0)], items=items)
    nodes, vectors = build_nodes(store, InterestConfig(n_clusters=2))
    assert nodes.kinds == ("cluster",) and vectors.source == "tokens"
    assert {label.split(", ")[0] for label in nodes.label} == {"a100", "a101"}


# --- export ---------------------------------------------------------------------------------------------------
class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, tuple]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(sorted(attrs))))


def _tags(page: str) -> list[tuple[str, tuple]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def test_html_export_is_inert_and_self_contained(store, tmp_path):
    evil = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
    items = [("E1", evil[0], "Running", "Stride"), ("E2", evil[1], "Running", "Stride"), *CATALOGUE[3:]]
    load(store, tmp_path, [("u1", "E1", "view", T0), ("u1", "E2", "purchase", T0 + 60),
                           ("u1", "B1", "view", T0 + 120)], items=items)
    graph = interest_graph(store, "u1")
    page = graph_html(graph)
    for payload in evil:
        assert payload not in page
        assert html.escape(payload) in page  # the tables
        # the network: raw text in JSON with <, >, & written as \u escapes (vis draws it as text, never as HTML)
        assert json.dumps(payload)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e") in page
    tags = _tags(page)
    assert not any(t == "img" for t, _ in tags)
    assert not any(name.startswith("on") for _, attrs in tags for name, _ in attrs)
    assert not any(name in ("src", "href") and value and value.startswith("http") for _, attrs in tags
                   for name, value in attrs)
    scripts = [attrs for t, attrs in tags if t == "script"]
    assert len(scripts) == 3 and not any(name == "src" for attrs in scripts for name, _ in attrs)  # pyvis' own
    round_trip = json.loads(graph_json(graph))
    assert round_trip == json.loads(json.dumps(graph.to_dict()))
    assert {i["title"] for n in round_trip["nodes"] for i in n["top_items"]} >= set(evil)


# --- cohort ---------------------------------------------------------------------------------------------------
def test_cohort_shows_the_interest_rising_across_users(store, tmp_path):
    events = []
    for u in ("u1", "u2", "u3"):
        events += [(u, "A1", "view", T0 + k * 3600) for k in range(4)]
        events += [(u, "B1", "view", T0 + 60 * DAY + k * 3600) for k in range(4)]
    load(store, tmp_path, events)
    build_snapshots(store, InterestConfig(cadence="events:4", half_life_days=1.0))

    trend = cohort(store, days=30)
    assert trend["interest"].iloc[0] == "category:Coffee" and trend["change"].iloc[0] == pytest.approx(1.0)
    assert trend.set_index("interest").loc["category:Running", "change"] == pytest.approx(-1.0)
    assert trend["users"].iloc[0] == 3


# --- CLI ------------------------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "igcore.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # five subprocesses, a few seconds each
def test_cli_snapshots_interests_drift(db_path, tmp_path):
    with Store(db_path) as store:
        load(store, tmp_path, _four_users())
    db = ["--db", str(db_path)]
    out = _cli("drift", *db)
    assert out.returncode == 1 and out.stderr.strip().endswith("build them first (igcore snapshots)")
    out = _cli("snapshots", *db, "--set", "cadence=events:2")
    assert out.returncode == 0 and "snapshots of 4 users written" in out.stdout, out.stderr
    out = _cli("interests", "u2", *db, "--json", "--html", str(tmp_path / "u2.html"))
    graph = json.loads(out.stdout)
    assert graph["user_id"] == "u2" and graph["nodes"][0]["interest"] == "category:Coffee"
    assert (tmp_path / "u2.html").read_text().count("Coffee") > 0
    out = _cli("drift", *db, "--top", "2", "--json", "--changes")
    assert set(json.loads(out.stdout)) == {"rising", "fading", "change_points", "privacy", "changes"}
    assert out.stderr.splitlines()[-1] == "changes: A view of single users: not a differentially private release."
    out = _cli("interests", "nobody", *db)
    assert out.returncode == 1 and out.stderr == "igcore: error: user 'nobody' has no events\n"
