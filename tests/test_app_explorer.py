"""The user explorer page under AppTest on a small constructed store: the user picker (query params and search),
the snapshot slider, the interest-share figure with its change point, the event and recommendation tables, the
graph HTML, moving back in time, the messages for unknown users and missing snapshots, inert untrusted text,
and a run on the bundled sample."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from igcore import privacy
from igcore.dashboard import explorer as ex
from igcore.dashboard.text import md_literal
from igcore.ingest import import_events, import_items
from igcore.interests.config import InterestConfig
from igcore.interests.graph import interest_graph
from igcore.interests.model_graph import model_graph
from igcore.interests.scoring import ModelScorer
from igcore.interests.snapshots import build_snapshots, timeline
from igcore.interests.text import reasons
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.run import checkpoint_dir, train
from igcore.store import Store
from tests.conftest import REPO, use_store_copy, write_csv

T0 = 1_700_006_400  # 2023-11-15 00:00:00 UTC
HOUR = 3600
EVIL = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
EVIL_USER = EVIL[0]
CATALOGUE = [("A1", "Trail Running Shoe", "Running", "Stride"), ("A2", "Road Running Shoe", "Running", "Stride"),
             ("A3", "Running Sock", "Running", "Pacer"), ("B1", "Espresso Beans", "Coffee", "Crema"),
             ("B2", "Ground Coffee", "Coffee", "Crema"), ("B3", "Coffee Grinder", "Coffee", "Moka"),
             ("C1", "Green Tea", "Tea", "Crema"), ("C2", "Tea Pot", "Tea", "Stride"),
             ("E1", EVIL[0], "Tea", "Moka"), ("E2", EVIL[1], "Tea", "Pacer")]  # brands link across categories
TITLES = {i: t for i, t, _, _ in CATALOGUE}
CONFIG = InterestConfig(source="category", cadence="events:5", half_life_days=1e6, drift_min_history=5,
                        drift_min_after=5, drift_window_before=10, drift_window_after=10)


def _events() -> list[tuple[str, str, str, int]]:
    """u1: 10 Running views then 10 Coffee views (a planted change at event 10); u2: Tea and Coffee; the evil
    user: the evil-titled items and more; u4: 6 events."""
    events = [("u1", f"A{1 + k % 3}", "view", T0 + k * HOUR) for k in range(10)]
    events += [("u1", f"B{1 + k % 3}", "view", T0 + (10 + k) * HOUR) for k in range(10)]
    events += [("u2", ["C1", "C2", "B1", "B2"][k % 4], "purchase" if k % 5 == 0 else "view", T0 + k * HOUR + 60)
               for k in range(20)]
    events += [(EVIL_USER, ["E1", "E2", "C1", "A1"][k % 4], "view", T0 + k * HOUR + 120) for k in range(20)]
    events += [("u4", "C2", "view", T0 + k * HOUR + 180) for k in range(6)]
    return events


def _import(store: Store, folder: Path, events: bool = True, items: bool = True) -> None:
    def quoted(row: tuple) -> str:
        return ",".join('"' + str(c).replace('"', '""') + '"' for c in row)

    if items:
        import_items(store, write_csv(folder / "items.csv", "item_id,title,category,brand\n"
                                      + "\n".join(quoted(r) for r in CATALOGUE) + "\n"))
    if events:
        rows = "\n".join(quoted(r) for r in _events())
        import_events(store, write_csv(folder / "events.csv", "user_id,item_id,event_type,timestamp\n" + rows + "\n"))


@pytest.fixture(scope="module")
def built_store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("explorer")
    path = folder / "store.duckdb"
    with Store(path) as store:
        _import(store, folder)
        build_snapshots(store, CONFIG)
    return path


@pytest.fixture
def app_db(built_store: Path, tmp_path: Path, monkeypatch) -> Path:
    return use_store_copy(built_store, tmp_path, monkeypatch)


def open_page(user: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    if user is not None:
        at.query_params["user"] = user
    at.run()
    at.switch_page("pages/explorer.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


EVENTS = ["time", "item_id", "title", "event_type"]
RECS = ["rank", "item_id", "title", "score", "interest", "supporting interests", "supporting events"]
WHY_INTERESTS = ["interest", "id", "contribution", "share"]
WHY_EVENTS = [*EVENTS, "contribution", "share"]
MOVES = ["snapshot_no", "snapshot_at", "scorer", "change", "rank", "prev_rank", "item_id", "title"]


def frame(at: AppTest, columns: list[str]) -> pd.DataFrame:
    """The page's one dataframe with these columns."""
    found = [df.value for df in at.dataframe if list(df.value.columns) == columns]
    assert len(found) == 1, f"{len(found)} dataframes with columns {columns}"
    return found[0]


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def graph_page(at: AppTest) -> str:
    frames = at.get("iframe")
    assert len(frames) == 1
    return frames[0].proto.srcdoc


def stamp(seconds: int) -> str:
    return pd.Timestamp(seconds, unit="s").isoformat()


# --- the page on u1 ----------------------------------------------------------------------------------------------
def test_query_param_opens_a_user_at_the_latest_snapshot(app_db):
    at = open_page("u1")
    assert at.selectbox[0].value == "u1"
    slider = at.select_slider[0]
    assert slider.options == ["snapshot 1: 2023-11-15 00:00, 1 events"] + [  # from the first event on
        f"snapshot {n + 1}: 2023-11-15 {h:02d}:00, {5 * n} events" for n, h in zip(range(1, 5), (4, 9, 14, 19))]
    assert slider.value == 5

    spec = figures(at)[0]
    shares = {t["name"]: t["y"] for t in spec["data"] if t.get("stackgroup")}
    assert list(shares) == ["Running", "Coffee"]  # by mean share; no "other" with two interests
    assert shares["Running"] == pytest.approx([1.0, 1.0, 1.0, 2 / 3, 0.5], rel=1e-6)
    assert shares["Coffee"] == pytest.approx([0.0, 0.0, 0.0, 1 / 3, 0.5], rel=1e-6)
    xs = {tuple(t["x"]) for t in spec["data"] if t.get("stackgroup")}
    assert xs == {tuple(stamp(T0 + h * HOUR) for h in (0, 4, 9, 14, 19))}
    marker = [t for t in spec["data"] if t["name"] == "change point"]
    assert len(marker) == 1 and marker[0]["x"] == [stamp(T0 + 10 * HOUR)]  # the first Coffee view
    assert "Coffee emerges, Running fades" in marker[0]["hovertext"][0]
    lines = {(s["x0"], s["line"].get("dash")) for s in spec["layout"]["shapes"]}
    assert lines == {(stamp(T0 + 10 * HOUR), "dash"), (stamp(T0 + 19 * HOUR), None)}  # change, selected time
    jsd = next(t for t in spec["data"] if t["name"] == "JSD")["y"]
    assert jsd[0] is None and jsd[1] == jsd[2] == 0.0 and jsd[3] > 0

    events = frame(at, EVENTS)
    assert len(events) == 20
    assert events["item_id"].tolist() == [f"B{1 + k % 3}" for k in range(9, -1, -1)] + \
        [f"A{1 + k % 3}" for k in range(9, -1, -1)]
    assert events["title"].tolist() == [TITLES[i] for i in events["item_id"]]
    assert set(events["event_type"]) == {"view"}
    assert "Interests of u1 at 2023-11-15T19:00:00Z" in graph_page(at)


def test_recommendations_match_the_library_and_explanations_add_up(app_db):
    at = open_page("u1")
    recs = frame(at, RECS)
    with Store(app_db, read_only=True) as store:
        expected = interest_graph(store, "u1").recommendations
    assert recs["item_id"].tolist() == [r["item_id"] for r in expected]
    assert set(recs["item_id"]) == {"C1", "C2", "E1", "E2"}  # everything u1 has not seen
    assert recs["score"].tolist() == pytest.approx([r["score"] for r in expected])
    assert recs["title"].tolist() == [TITLES[i] for i in recs["item_id"]]
    assert "Recommendations (evidence)" in [s.value for s in at.subheader]
    top = expected[0]["explanation"]
    because = recs["supporting interests"][0]
    assert because == reasons(top["interests"], 3)
    percents = [int(part.rsplit(" ", 1)[1].rstrip("%")) for part in because.split(", ")]
    assert sum(percents) == 100 and percents == sorted(percents, reverse=True)  # whole percents of the whole
    interests = frame(at, WHY_INTERESTS)
    assert interests["share"].sum() == pytest.approx(1.0, abs=1e-9)  # exact attribution: shares sum to 1
    assert interests["contribution"].sum() == pytest.approx(recs["score"][0], abs=1e-9)
    events = frame(at, WHY_EVENTS)
    assert events["item_id"].tolist() == [e["item_id"] for e in top["events"]]
    assert set(events["title"]) <= set(TITLES.values())
    why = next(s for s in at.selectbox if s.label == "Why this recommendation?")
    why.select(2).run()
    interests = frame(at, WHY_INTERESTS)
    assert interests["id"].tolist() == [p["interest"] for p in expected[1]["explanation"]["interests"]]
    assert interests["contribution"].sum() == pytest.approx(recs["score"][1], abs=1e-9)


def test_top_k_changes_over_time(app_db):
    at = open_page("u1")
    with Store(app_db, read_only=True) as store:
        recs = timeline(store, "u1").recommendations
    ranks = figures(at)[1]
    own = recs[recs["scorer"] == "evidence"]
    now = own[(own["snapshot_no"] == own["snapshot_no"].max()) & (own["rank"] <= 5)].sort_values("rank")
    assert [t["name"] for t in ranks["data"]] == [html.escape(TITLES[i]) for i in now["item_id"]]  # best first
    deepest = own["rank"].max() + 0.5
    assert len(ranks["data"]) == min(5, len(now)) and ranks["layout"]["yaxis"]["range"] == [deepest, 0.5]
    moves = frame(at, MOVES)
    # u1 sees B1-B3 by snapshot 4, so they leave the list there (seen items are left out)
    assert set(moves["change"]) == {"left"} and set(moves["snapshot_no"]) == {2, 4}  # 2: after the first views
    moves = moves[moves["snapshot_no"] == 4]
    second = recs[recs["snapshot_no"] == 3].set_index("item_id")["rank"]
    assert dict(zip(moves["item_id"], moves["prev_rank"])) == {i: second[i] for i in ("B1", "B2", "B3")}


def test_moving_the_slider_back_changes_graph_and_tables(app_db):
    at = open_page("u1")
    latest_recs = frame(at, RECS)["item_id"].tolist()
    at.select_slider[0].set_value(3).run()  # 10 events
    assert not at.exception
    events = frame(at, EVENTS)
    assert events["item_id"].tolist() == [f"A{1 + k % 3}" for k in range(9, -1, -1)]  # the first 10 events
    page = graph_page(at)
    assert "Interests of u1 at 2023-11-15T09:00:00Z" in page and '"label": "Coffee"' not in page
    recs = frame(at, RECS)["item_id"].tolist()
    assert recs != latest_recs and {"B1", "B2", "B3"} <= set(recs)  # not seen yet at snapshot 2
    with Store(app_db, read_only=True) as store:
        expected = interest_graph(store, "u1", pd.Timestamp(T0 + 9 * HOUR, unit="s").to_pydatetime())
    assert recs == [r["item_id"] for r in expected.recommendations]
    assert any("A past time" in c.value for c in at.caption)
    spec = figures(at)[0]
    assert (stamp(T0 + 9 * HOUR), None) in {(s["x0"], s["line"].get("dash")) for s in spec["layout"]["shapes"]}


def test_latest_snapshot_uses_the_trained_model_and_past_ones_the_evidence(app_db):
    config = PipelineConfig(dim=16, max_len=10, epochs=2, eval_every=1, batch_size=64, memory_dim=16, time_dim=4,
                            device="cpu", use_text=False)
    with Store(app_db, read_only=True) as store:
        train(store, config)
        scorer = ModelScorer.from_checkpoint(store, checkpoint_dir(app_db))
        expected = interest_graph(store, "u1", model=scorer).recommendations
    at = open_page("u1")
    assert "Recommendations (model)" in [s.value for s in at.subheader]
    assert any("trained model in its current state" in c.value for c in at.caption)
    assert frame(at, RECS)["item_id"].tolist() == [r["item_id"] for r in expected]
    assert frame(at, WHY_INTERESTS)["share"].sum() == pytest.approx(1.0, abs=1e-9)  # similarity-weighted shares
    at.select_slider[0].set_value(3).run()
    assert "Recommendations (evidence)" in [s.value for s in at.subheader]
    assert any("A past time" in c.value for c in at.caption)


def test_a_model_with_interest_slots_shows_its_own_graph_first(app_db):
    config = PipelineConfig(dim=16, max_len=10, epochs=2, eval_every=1, batch_size=64, memory_dim=16, time_dim=4,
                            device="cpu", use_text=False, interests=2)
    with Store(app_db, read_only=True) as store:
        train(store, config)
        scorer = ModelScorer.from_checkpoint(store, checkpoint_dir(app_db))
        expected = model_graph(store, scorer, "u1")
    at = open_page("u1")
    assert [h.value for h in at.header][:2] == ["The model's interests", "Observed interests (decayed evidence)"]
    assert frame(at, RECS)["item_id"].tolist() == [r["item_id"] for r in expected.recommendations]
    assert frame(at, RECS)["interest"].tolist() == [r["label"] for r in expected.recommendations]
    assert frame(at, WHY_INTERESTS)["share"].sum() == pytest.approx(1.0, abs=1e-6)  # slot + sequence = score
    slots = [t for t in figures(at)[0]["data"] if t.get("stackgroup") == "shares"]
    assert len(slots) == 2 and len(slots[0]["x"]) == expected.n_events  # one point per event, per slot
    assert len(at.get("iframe")) == 2  # the model's graph, then the observed one
    cli = [sys.executable, "-m", "igcore.cli", "interests", "u1", "--db", str(app_db), "--model", "--json"]
    shown = json.loads(subprocess.run(cli, capture_output=True, text=True, check=True, timeout=120).stdout)
    assert shown["kinds"] == ["model"] and shown["nodes"] == json.loads(json.dumps(expected.nodes))
    observed = json.loads(subprocess.run([*cli, "--observed"], capture_output=True, text=True, check=True,
                                         timeout=120).stdout)
    assert observed["kinds"] == ["category"]


# --- finding users --------------------------------------------------------------------------------------------------
def pseudonyms_of(path: Path) -> dict[str, str]:
    with Store(path, read_only=True) as store:
        key = privacy.store_key(store)
        users = [r[0] for r in store.rows("SELECT DISTINCT user_id FROM events")]
    return {u: privacy.pseudonym(key, u) for u in users}


def test_search_box_lists_matches_most_active_first(app_db):
    at = open_page()
    p = pseudonyms_of(app_db)
    label = lambda u, n: f"{u} · {p[u]} ({n} events)"  # noqa: E731
    assert at.selectbox[0].options == [label(EVIL_USER, 20), label("u1", 20), label("u2", 20), label("u4", 6)]
    at.text_input[0].input("U").run()  # most events first, then by id
    assert at.selectbox[0].options == [label("u1", 20), label("u2", 20), label("u4", 6)]
    at.selectbox[0].select("u2").run()
    assert at.query_params["user"] == "u2" and len(at.select_slider[0].options) == 5
    assert "Interests of u2 at" in graph_page(at)
    at.text_input[0].input("u4").run()
    assert at.selectbox[0].value == "u4"
    assert at.query_params["user"] == "u4"
    assert len(at.select_slider[0].options) == len(timeline_of(app_db, "u4"))
    at.text_input[0].input("nobody").run()
    assert [w.value for w in at.warning] == ["No user id or pseudonym matches that text."]


def test_a_user_is_found_by_pseudonym(app_db):
    at = open_page()
    p = pseudonyms_of(app_db)
    assert len(set(p.values())) == len(p) and all(len(v) == 14 and v.startswith("p-") for v in p.values())
    at.text_input[0].input(p["u4"][:8].upper()).run()  # a prefix, any case
    assert at.selectbox[0].value == "u4" and at.query_params["user"] == "u4"
    assert at.selectbox[0].options == [f"u4 · {p['u4']} (6 events)"]
    at.text_input[0].input("p-zzzz").run()  # not hex: an id search, which finds nothing
    assert [w.value for w in at.warning] == ["No user id or pseudonym matches that text."]


def test_pseudonyms_are_stable_per_store_and_differ_between_stores(tmp_path):
    with Store(tmp_path / "a.duckdb") as a, Store(tmp_path / "b.duckdb") as b:
        key_a, key_b = privacy.store_key(a), privacy.store_key(b)
    with Store(tmp_path / "a.duckdb") as a:
        assert privacy.store_key(a) == key_a  # drawn once, kept
    assert privacy.pseudonym(key_a, "u1") == privacy.pseudonym(key_a, "u1") != privacy.pseudonym(key_b, "u1")
    assert privacy.pseudonym("00" * 16, "u1") == "p-" + hmac.new(bytes(16), b"u1", hashlib.sha256).hexdigest()[:12]


def timeline_of(path: Path, user: str) -> pd.DataFrame:
    with Store(path, read_only=True) as store:
        return timeline(store, user).snapshots


def test_unknown_user_gets_a_clear_message(app_db):
    at = open_page("nobody")
    assert [w.value for w in at.warning] == ["No events of user nobody in this store: check the id, or pick a "
                                             "user above."]
    assert not at.get("plotly_chart") and not at.select_slider


def test_store_without_snapshots_offers_to_build_them(tmp_path, monkeypatch):
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("IGCORE_DB", str(path))
    with Store(path) as store:  # no catalogue: the first start cannot build snapshots
        _import(store, tmp_path, items=False)
    at = open_page("u1")
    assert "no interest snapshots yet" in at.info[0].value and "igcore snapshots" in at.info[0].value
    with Store(path) as store:
        _import(store, tmp_path, events=False)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.selectbox[0].value == "u1" and len(at.select_slider[0].options) == 5


# --- untrusted text ---------------------------------------------------------------------------------------------------
def test_untrusted_ids_and_titles_stay_text(app_db):
    at = open_page(EVIL_USER)
    assert at.selectbox[0].value == EVIL_USER
    events = frame(at, EVENTS)
    assert set(events["title"]) >= set(EVIL)  # plain text in the table
    page = graph_page(at)
    specs = [chart.proto.spec for chart in at.get("plotly_chart")]
    for payload in EVIL:  # the graph's labels and tooltips: JSON with <, >, & as \u escapes, drawn as text
        assert payload not in page
        assert json.dumps(payload)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e") in page
        for spec in specs:
            assert payload not in spec and payload.replace("/", "\\/") not in spec
    assert html.escape(EVIL_USER) in json.loads(specs[0])["layout"]["title"]["text"]
    shown = [e.value for kind in ("markdown", "caption", "warning", "info", "title", "subheader")
             for e in at.get(kind)]
    assert not any(p in text for p in EVIL for text in shown)

    at = open_page("u1")  # the evil titles among u1's recommendations and in the rank figure
    recs = frame(at, RECS)
    assert set(EVIL) <= set(recs["title"])
    ranks = at.get("plotly_chart")[1].proto.spec
    names = [t["name"] for t in json.loads(ranks)["data"]]
    for payload in EVIL:
        assert payload not in ranks and html.escape(payload) in names


def test_unknown_evil_user_message_is_escaped(app_db):
    at = open_page(EVIL[1])
    assert len(at.warning) == 1
    assert at.warning[0].value == f"No events of user {md_literal(EVIL[1])} in this store: check the id, or pick a " \
        "user above."  # every markup character backslash-escaped: shown as typed, never parsed


# --- library helpers --------------------------------------------------------------------------------------------------
def test_shares_keep_the_top_interests_and_sum_the_rest_as_other():
    snaps = pd.DataFrame({"snapshot_no": [1, 2], "snapshot_at": pd.to_datetime([T0, T0 + HOUR], unit="s")})
    weights = pd.DataFrame({"snapshot_no": [1, 1, 1, 2, 2, 2, 2],
                            "interest": ["c:a", "c:b", "c:c", "c:a", "c:b", "c:d", "b:x"],
                            "label": ["A", "B", "C", "A", "B", "D", "X"],
                            "kind": ["c"] * 6 + ["b"], "share": [0.5, 0.3, 0.2, 0.1, 0.6, 0.3, 1.0]})
    long = ex.interest_shares(weights, snaps, "c", top=2)
    wide = long.pivot(index="snapshot_no", columns="label", values="share")
    assert list(long.drop_duplicates("interest")["label"]) == ["B", "A", "other"]  # mean 0.45, 0.3
    assert wide.loc[1].to_dict() == pytest.approx({"A": 0.5, "B": 0.3, "other": 0.2})
    assert wide.loc[2].to_dict() == pytest.approx({"A": 0.1, "B": 0.6, "other": 0.3})


def test_the_bump_chart_follows_the_current_top_items_only():
    ranks = pd.DataFrame({"scorer": "evidence", "snapshot_no": np.repeat([1, 2, 3], 3),
                          "rank": [1, 2, 3] * 3, "item_id": ["a", "b", "c", "a", "d", "b", "e", "a", "f"]})
    assert ex.current_top(ranks, top=2) == ["e", "a"]  # snapshot 3's list, best first
    assert ex.current_top(ranks, at_no=2, top=2) == ["a", "d"]
    assert ex.current_top(ranks, at_no=0) == []


# --- the bundled sample -----------------------------------------------------------------------------------------------
def test_page_runs_on_the_sample(sample_app_db):
    at = open_page()
    assert at.select_slider and len(at.get("plotly_chart")) == 2 and graph_page(at)
    assert len(frame(at, RECS)) == 10


def test_a_linked_user_outside_the_most_active_list_is_labelled_alike(sample_app_db):
    with Store(sample_app_db, read_only=True) as store:  # the least active user: not among the 50 listed
        user, n = store.rows("SELECT user_id, count(*) AS n FROM events GROUP BY 1 ORDER BY n, 1 LIMIT 1")[0]
    at = open_page(user)
    box = at.selectbox[0]
    assert box.value == user and box.options[0] == f"{user} · {pseudonyms_of(sample_app_db)[user]} ({n:,} events)"
    assert len(box.options) == 51


def test_events_until_reads_the_users_events_with_titles_newest_first(app_db):
    at = pd.Timestamp(T0 + 4 * HOUR + 60, unit="s")  # u2's fifth event
    found = ex.events_until(app_db, "u2", at)
    assert found.columns.tolist() == ["time", "item_id", "title", "event_type"]
    assert [(t, i, title, e) for t, i, title, e in found.itertuples(index=False)] == [
        (pd.Timestamp(T0 + k * HOUR + 60, unit="s"), item, TITLES[item], "purchase" if k == 0 else "view")
        for k, item in ((4, "C1"), (3, "B2"), (2, "B1"), (1, "C2"), (0, "C1"))]
    assert ex.events_until(app_db, "u2", at.tz_localize("UTC")).equals(found)  # a zone-aware time: the same
    with Store(app_db, read_only=True) as store:
        assert ex.item_titles(store, ["C2", "B1", "C2", "nope"]) == {"B1": "Espresso Beans", "C2": "Tea Pot"}


def test_titles_are_read_again_after_an_import_changes_the_catalogue(app_db, tmp_path):
    with Store(app_db, read_only=True) as store:
        assert ex.item_titles(store, ["C2"]) == {"C2": "Tea Pot"}  # read and kept
    with Store(app_db) as store:
        import_items(store, write_csv(tmp_path / "more.csv", "item_id,title\nC2,Teapot (cast iron)\nZ9,New Kettle\n"))
    with Store(app_db, read_only=True) as store:
        assert ex.item_titles(store, ["C2", "Z9", "B1"]) == {"B1": "Espresso Beans", "C2": "Teapot (cast iron)",
                                                            "Z9": "New Kettle"}
