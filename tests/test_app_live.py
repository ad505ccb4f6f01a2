"""The Live and Cohorts pages under AppTest against small constructed stores (and one sample copy): adding an
event for real, what-if questions that write nothing, the cohort's rising interest, guidance without snapshots,
and untrusted text that stays text."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from igcore.dashboard import models
from igcore.dp.ledger import set_settings
from igcore.ingest import import_events, import_items
from igcore.interests.config import InterestConfig
from igcore.interests.graph import hypothetical_graph, interest_graph
from igcore.interests.snapshots import build_snapshots
from igcore.store import Store
from tests.conftest import REPO, write_csv

DAY = 86400
T0 = 1_700_006_400  # 2023-11-15 00:00:00 UTC
XSS = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
CATALOGUE = [("A1", "Trail Running Shoe", "Running", "Stride"), ("A2", "Road Running Shoe", "Running", "Stride"),
             ("A3", "Running Sock", "Running", "Pacer"), ("B1", "Espresso Beans", "Coffee", "Crema"),
             ("B2", "Ground Coffee", "Coffee", "Crema"), ("B3", "Coffee Grinder", "Coffee", "Moka"),
             ("C1", "Green Tea", "Tea", "Leaf"), ("C2", "Tea Pot", "Tea", "Leaf")]
SNAPSHOT_TABLES = ("interest_snapshots", "interest_weights", "interest_edges", "recommendation_snapshots",
                   "interest_changes")


def _csv_row(row: tuple) -> str:
    return ",".join('"' + str(c).replace('"', '""') + '"' for c in row)


SMALL = InterestConfig(cadence="events:2", top_k=3)


def build(path: Path, events: list[tuple], items: list[tuple] | None = CATALOGUE,
          config: InterestConfig | None = SMALL) -> None:
    """A store of (user, item, type, unix seconds) events through the real importers, with snapshots."""
    tmp = path.parent
    with Store(path) as store:
        if items:
            import_items(store, write_csv(tmp / "items.csv", "item_id,title,category,brand\n"
                                          + "\n".join(_csv_row(r) for r in items) + "\n"))
        lines = "\n".join(_csv_row(r) for r in events)
        assert import_events(store, write_csv(tmp / "events.csv", "user_id,item_id,event_type,timestamp\n"
                                              + lines + "\n")).rows_loaded == len(events)
        if config is not None:
            build_snapshots(store, config)


def three_users() -> list[tuple]:
    """u1 only runs (5 views), u2 only drinks coffee, u3 both; u1 is the most recently active."""
    u1 = [("u1", i, "view", T0 + k * 3600) for k, i in enumerate(["A1", "A2", "A3", "A1", "A2"])]
    u2 = [("u2", i, "view", T0 + k * 3600) for k, i in enumerate(["B1", "B2", "B1", "B3"])]
    u3 = [("u3", i, "view", T0 + k * 1800) for k, i in enumerate(["A1", "B1", "A2", "B2"])]
    return u1 + u2 + u3


def moving_users(target: tuple[str, str] = ("B1", "Coffee")) -> list[tuple]:
    """Three users who viewed running shoes, then (60 days later) only the target item."""
    events = []
    for u in ("u1", "u2", "u3"):
        events += [(u, "A1", "view", T0 + k * 3600) for k in range(4)]
        events += [(u, target[0], "view", T0 + 60 * DAY + k * 3600) for k in range(4)]
    return events


@pytest.fixture
def app_db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "app.duckdb"
    monkeypatch.setenv("IGCORE_DB", str(path))
    return path


def open_page(page: str, timeout: float = 60) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout).run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def frame_with(at: AppTest, column: str, nth: int = 0) -> pd.DataFrame:
    return [d.value for d in at.dataframe if column in d.value.columns][nth]


def figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def values(v: list | dict) -> list:
    """A trace's x or y: plotly ships numbers as base64 typed arrays."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def strings(node: object) -> list[str]:
    """Every string in a figure's spec, decoded (labels, hover text, titles)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def store_rows(path: Path) -> dict[str, pd.DataFrame]:
    with Store(path, read_only=True) as store:
        out = {t: store.df(f"SELECT * FROM {t}") for t in SNAPSHOT_TABLES}  # names from code
        out["events"] = store.df("SELECT * FROM events ORDER BY event_id")
    return {t: f.sort_values(list(f.columns[:3]), ignore_index=True) for t, f in out.items()}


def snapshot_rows(path: Path, user: str) -> dict[str, pd.DataFrame]:
    return {t: f[f["user_id"] == user].reset_index(drop=True) for t, f in store_rows(path).items()
            if t != "events"}


def choose(at: AppTest, key: str, value: str) -> None:
    at.selectbox(key=key).set_value(value)


# --- Live: adding for real ------------------------------------------------------------------------------------
def test_adding_an_event_writes_it_updates_only_that_user_and_shows_the_new_interest(app_db):
    build(app_db, three_users())
    before = store_rows(app_db)
    at = open_page("live")
    assert at.selectbox(key="live_user").options == ["u1", "u2", "u3"]  # latest first
    assert at.selectbox(key="live_user").value == "u1"
    assert frame_with(at, "share")["label"].tolist() == ["Running"]

    choose(at, "live_item", "C1")
    choose(at, "live_type", "purchase")
    time_box = next(t for t in at.text_input if t.label.startswith("Time"))
    assert time_box.value == "2023-11-15T04:01:00"  # one minute after u1's last event
    at.button(key="live_add_submit").click().run()
    assert not at.exception and not at.error

    after = store_rows(app_db)
    added = after["events"].iloc[len(before["events"]):]
    assert len(after["events"]) == len(before["events"]) + 1
    assert added[["user_id", "item_id", "event_type"]].values.tolist() == [["u1", "C1", "purchase"]]
    assert added["ts"].tolist() == [pd.Timestamp("2023-11-15 04:01:00")]
    for user in ("u2", "u3"):  # untouched users' snapshots are the very same rows
        for table, frame in snapshot_rows(app_db, user).items():
            pd.testing.assert_frame_equal(frame, {t: f[f["user_id"] == user].reset_index(drop=True)
                                                  for t, f in before.items()}[table])
    u1 = snapshot_rows(app_db, "u1")["interest_weights"]
    assert sorted(u1["snapshot_no"].unique()) == [1, 2, 3, 4]  # the 6th event made a new snapshot (events:2)
    assert sorted(u1.loc[u1["snapshot_no"] == 4, "interest"]) == ["category:Running", "category:Tea"]

    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Loaded"], metrics["Quarantined"], metrics["Duplicates"]) == ("1", "0", "0")
    assert re.fullmatch(r"\d+\.\d\d s", metrics["Updated in"])
    interests = frame_with(at, "what changed").set_index("label")
    assert interests.loc["Tea", "what changed"] == "new" and interests.loc["Tea", "share before"] == 0
    assert interests.loc["Running", "what changed"] == "fading"
    # a purchase weighs 5 views (default type weights); each view decays with a 14-day half-life
    running = sum(0.5 ** ((T0 + 4 * 3600 + 60 - ts) / (14 * DAY)) for _, _, _, ts in three_users()[:5])
    assert interests.loc["Tea", "share after"] == pytest.approx(5 / (5 + running), rel=1e-9)
    recs = frame_with(at, "move")
    assert recs.iloc[0][["item_id", "move"]].tolist() == ["C2", "new"]  # the tea pot enters at the top
    assert recs.iloc[0]["score"] > 0 and (recs["score"].iloc[1:] == 0).all()  # before, every score was 0
    shown_before = [d.value for d in at.dataframe if list(d.value.columns) == ["rank", "item_id", "title", "score",
                                                                                "interest"]][0]
    old_rank = dict(zip(shown_before["item_id"], shown_before["rank"]))
    assert [old_rank.get(i, pd.NA) for i in recs["item_id"]] == recs["rank before"].tolist()
    left = [d.value for d in at.dataframe if "rank before" in d.value and "move" not in d.value][0]
    assert "C1" not in recs["item_id"].tolist()  # bought now, so not recommended
    assert sorted(left["item_id"]) == sorted(set(shown_before["item_id"]) - set(recs["item_id"]))
    with Store(app_db, read_only=True) as store:  # what the page shows is what the library computes now
        assert recs["item_id"].tolist() == [r["item_id"] for r in interest_graph(store, "u1").recommendations]

    # The page moved on with the event: count, last time, and the next default time (a second add is no duplicate)
    assert any(c.value.startswith("6 events, the last at 2023-11-15 04:01:00 UTC") for c in at.caption)
    assert next(t for t in at.text_input if t.label.startswith("Time")).value == "2023-11-15T04:02:00"
    at.button(key="live_add_submit").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Loaded"], metrics["Duplicates"]) == ("1", "0")
    assert len(store_rows(app_db)["events"]) == len(before["events"]) + 2


def test_a_bad_time_is_quarantined_and_nothing_else_moves(app_db):
    build(app_db, three_users())
    before = store_rows(app_db)
    at = open_page("live")
    next(t for t in at.text_input if t.label.startswith("Time")).set_value("not a time")
    at.button(key="live_add_submit").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Loaded"], metrics["Quarantined"]) == ("0", "1")
    assert frame_with(at, "reason")["reason"].tolist() == ["unparseable timestamp"]
    after = store_rows(app_db)
    for table in SNAPSHOT_TABLES + ("events",):
        pd.testing.assert_frame_equal(after[table], before[table])


def test_uploaded_csv_goes_through_the_importer(app_db):
    build(app_db, three_users())
    at = open_page("live")
    at.file_uploader(key="live_upload").set_value(
        ("more.csv", b"user_id,item_id,event_type,timestamp\nu1,C1,cart,2023-11-16T00:00:00Z\n"
                     b"u2,C2,view,2023-11-16T00:00:00Z\n", "text/csv")).run()
    at.button(key="live_import").click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Loaded"] == "2"
    assert frame_with(at, "users with new events")["users with new events"].tolist() == ["u1", "u2"]
    assert frame_with(at, "what changed").set_index("label").loc["Tea", "what changed"] == "new"


# --- Live: what if --------------------------------------------------------------------------------------------
def test_what_if_writes_nothing_and_shows_the_new_interest(app_db):
    build(app_db, [e for e in three_users() if e[3] <= T0 + 3 * 3600])  # u2's last event is the store's last
    before = store_rows(app_db)
    at = open_page("live")
    choose(at, "live_user", "u2")
    at.run()
    choose(at, "whatif_item", "C2")
    assert at.selectbox(key="whatif_type").value == "purchase"
    at.button(key="FormSubmitter:live_what_if-Show the effect").click().run()
    assert not at.exception and not at.error

    interests = frame_with(at, "what changed").set_index("label")
    assert interests.loc["Tea", "what changed"] == "new"
    assert interests.loc["Tea", "share after"] == pytest.approx(5 / 9, abs=1e-3)  # purchase 5, four views 1
    assert interests.loc["Coffee", "share before"] == 1.0
    assert frame_with(at, "move").iloc[0]["item_id"] == "C1"  # the other tea enters first
    assert any("No trained model yet" in c.value for c in at.caption)
    after = store_rows(app_db)
    for table in SNAPSHOT_TABLES + ("events",):
        pd.testing.assert_frame_equal(after[table], before[table])


def test_hypothetical_graph_equals_the_graph_after_really_adding(db_path, tmp_path):
    build(db_path, three_users())
    at = dt.datetime(2023, 11, 15, 5, 0)
    with Store(db_path, read_only=True) as store:
        imagined = hypothetical_graph(store, "u1", [("C1", "purchase", at), ("C2", "view", at)]).to_dict()
        assert store.value("SELECT count(*) FROM events") == 13
    with Store(db_path) as store:
        import_events(store, write_csv(tmp_path / "real.csv", "user_id,item_id,event_type,timestamp\n"
                                       "u1,C1,purchase,2023-11-15T05:00:00\nu1,C2,view,2023-11-15T05:00:00\n"))
        real = interest_graph(store, "u1").to_dict()
    assert imagined == real
    assert {n["label"] for n in real["nodes"]} == {"Running", "Tea"}


def test_model_what_if_scores_a_copy_and_adding_updates_the_live_model(app_db):
    from igcore.pipeline.config import PipelineConfig
    from igcore.pipeline.run import train
    from pages import common

    build(app_db, three_users())
    with Store(app_db, read_only=True) as store:
        train(store, PipelineConfig(dim=16, max_len=10, epochs=2, eval_every=1, batch_size=64, memory_dim=16,
                                    time_dim=4, device="cpu", dropout=0.1, use_text=False, seed=0))
    at = open_page("live")
    assert not any("No trained model yet" in i.value for i in at.info)
    live = common._live_model(str(app_db), models.checkpoint_version(app_db))  # the page's cached model
    user = live.meta["user_ids"].index("u2")
    scores, history = live.scorer.model.score(np.array([user])), list(live.scorer.model.state.items[user])

    choose(at, "live_user", "u2")
    at.run()
    choose(at, "whatif_item", "A1")  # an item the model was trained on
    at.button(key="FormSubmitter:live_what_if-Show the effect").click().run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("Recommendations from a copy of the trained model") for c in at.caption)
    assert frame_with(at, "what changed").set_index("label").loc["Running", "what changed"] == "new"
    assert np.array_equal(live.scorer.model.score(np.array([user])), scores)  # the live model is as it was
    assert live.scorer.model.state.items[user].tolist() == history

    choose(at, "whatif_item", "C2")  # no event names it: the model cannot take it in, and says so
    at.button(key="FormSubmitter:live_what_if-Show the effect").click().run()
    assert any(c.value.startswith("The trained model does not know this user or item") for c in at.caption)

    choose(at, "live_item", "A1")
    choose(at, "live_type", "purchase")
    at.button(key="live_add_submit").click().run()
    assert not at.exception and not at.error
    assert live.scorer.model.state.items[user].tolist() == [*history, live.meta["item_ids"].index("A1")]  # online
    assert not np.allclose(live.scorer.model.score(np.array([user])), scores)
    assert any("online state moved by the 1 new events (resumed from its saved state" in c.value
               for c in at.caption), [c.value for c in at.caption]


def test_sessions_catching_up_at_once_feed_each_new_event_once(app_db):
    """The live model is shared by every session (threads): new events reach its online state exactly once."""
    import threading

    from igcore.pipeline.config import PipelineConfig
    from igcore.pipeline.run import train

    build(app_db, three_users(), config=None)
    with Store(app_db, read_only=True) as store:
        train(store, PipelineConfig(dim=16, max_len=10, epochs=1, batch_size=64, memory_dim=16, time_dim=4,
                                    device="cpu", use_text=False, use_graph=False, seed=0))
    live = models.load_live_model(app_db)
    user = live.meta["user_ids"].index("u2")
    history = list(live.scorer.model.state.items[user])
    with Store(app_db) as store:
        import_events(store, write_csv(app_db.parent / "new.csv", "user_id,item_id,event_type,timestamp\n"
                                       f"u2,A1,view,{T0 + DAY}\nu2,A2,view,{T0 + DAY + 60}\n"))
    start, taken = threading.Barrier(8), []

    def session() -> None:
        with Store(app_db, read_only=True) as store:
            start.wait()
            taken.append(live.catch_up(store))

    threads = [threading.Thread(target=session) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a1, a2 = (live.meta["item_ids"].index(i) for i in ("A1", "A2"))
    assert sorted(taken) == [0] * 7 + [2]
    assert live.scorer.model.state.items[user].tolist() == [*history, a1, a2]


# --- Cohorts --------------------------------------------------------------------------------------------------
def nearly_exact_releases(path: Path) -> None:
    """A budget so large and a minimum cohort so small that the page's private releases carry noise far under
    the tests' tolerance: these tests are about what the page draws (tests/test_dp.py tests the noise)."""
    with Store(path) as store:
        set_settings(store, budget="100000000000", epsilon="1000000000", min_cohort=1)


def test_cohorts_show_the_planted_rising_interest(app_db):
    build(app_db, moving_users(), config=InterestConfig(cadence="events:4", half_life_days=1.0))
    nearly_exact_releases(app_db)
    at = open_page("cohorts")
    assert at.select_slider(key="cohort_days").value == 30
    trend = frame_with(at, "change")
    assert trend.iloc[0][["interest", "label", "users"]].tolist() == ["category:Coffee", "Coffee", 3]
    assert trend.iloc[0]["change"] == pytest.approx(1.0)
    assert trend.set_index("interest").loc["category:Running", "change"] == pytest.approx(-1.0)
    bars = {t["name"]: (values(t["x"]), values(t["y"])) for t in figures(at)[0]["data"]}
    assert bars["rising"][0][0] == "Coffee" and bars["rising"][1][0] == pytest.approx(1.0)
    assert bars["fading"][0][0] == "Running" and bars["fading"][1][0] == pytest.approx(-1.0)
    points = figures(at)[2]["data"][0]  # eight events per user are too few for a change point
    assert values(points["x"]) == ["0", "1", "2", "3", "4", "5+"]
    assert values(points["y"])[0] == 3 and np.isnan(values(points["y"])[1:]).all()  # empty bins: suppressed
    weekly = figures(at)[3]
    assert {t["name"] for t in weekly["data"]} == {"Coffee", "Running", "Tea"}  # every interest of the catalogue
    assert [m.value for m in at.metric] == ["4000000000", "96000000000", "4"]  # four releases
    at.run()
    assert [m.value for m in at.metric] == ["4000000000", "96000000000", "4"]  # shown again: nothing spent


def test_cohort_window_without_enough_users_on_both_sides_says_so(app_db):
    build(app_db, moving_users(), config=InterestConfig(cadence="events:4", half_life_days=1.0))
    nearly_exact_releases(app_db)
    at = open_page("cohorts")
    at.select_slider(key="cohort_days").set_value(365).run()
    assert not at.exception
    assert any("Too few users on both sides of the cut 365 days" in i.value for i in at.info)


def test_a_spent_budget_shows_one_line_and_earlier_releases_stay(app_db):
    build(app_db, moving_users(), config=InterestConfig(cadence="events:4", half_life_days=1.0))
    with Store(app_db) as store:
        set_settings(store, budget="2", epsilon="0.5", min_cohort=1)
    at = open_page("cohorts")  # four releases spend it all
    assert [m.value for m in at.metric] == ["2", "0", "4"] and not at.warning
    at.select_slider(key="cohort_days").set_value(60).run()
    assert not at.exception and not at.error
    assert [w.value for w in at.warning] == [
        "the privacy budget of this store is spent (epsilon 2 of 2; a release costs 0.5): nothing new is "
        "published; releases made before are still shown (igcore privacy --budget raises it)"]
    assert len(figures(at)) == 3  # the drift and popularity releases, shown again


def test_pages_without_snapshots_show_guidance(app_db):
    build(app_db, three_users(), items=None, config=None)  # no catalogue: snapshots cannot be built
    for page in ("live", "cohorts"):
        at = open_page(page)
        assert "No interest snapshots yet" in at.info[0].value
        assert not at.get("plotly_chart") and not at.dataframe


# --- untrusted text -------------------------------------------------------------------------------------------
def test_untrusted_titles_and_labels_are_escaped_in_figures_and_plain_in_tables(app_db):
    items = [*CATALOGUE, ("X1", XSS, XSS, "Evil"), ("X2", IMG + '"quoted"', XSS, "Evil")]
    events = moving_users(("X1", XSS)) + [(IMG, "A1", "view", T0 + k * 60) for k in range(3)]
    build(app_db, events, items, InterestConfig(cadence="events:4", half_life_days=1.0))

    nearly_exact_releases(app_db)
    at = open_page("cohorts")
    trend = frame_with(at, "change")
    assert trend.iloc[0]["label"] == XSS  # the table holds the text itself
    texts = [strings(f) for f in figures(at)]
    assert values(figures(at)[0]["data"][0]["x"])[0] == "&lt;script&gt;alert(1)&lt;/script&gt;"  # rising
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in texts[3]  # the weekly popularity legend
    assert not any("<script" in t or "<img" in t for ts in texts for t in ts)

    at = open_page("live")
    assert IMG in at.selectbox(key="live_user").options
    choose(at, "live_user", "u1")
    at.run()
    assert frame_with(at, "share")["label"].tolist() == [XSS, "Running"]  # running decayed to almost nothing
    choose(at, "whatif_item", "X2")
    at.button(key="FormSubmitter:live_what_if-Show the effect").click().run()
    assert not at.exception
    titles = frame_with(at, "move")["title"].tolist()
    assert IMG + '"quoted"' not in titles  # seen items are not recommended; the unseen ones are plain text
    left = [d.value for d in at.dataframe if "rank before" in d.value and "move" not in d.value][0]
    assert left[["rank before", "title"]].values.tolist()[0] == [1, IMG + '"quoted"']  # shown as it is
    chart = figures(at)[0]
    assert {x for t in chart["data"] for x in values(t["x"])} == {"&lt;script&gt;alert(1)&lt;/script&gt;", "Running"}
    assert not any("<script" in t or "<img" in t for f in figures(at) for t in strings(f))


def test_cohort_change_points_link_to_the_explorer(app_db):
    shift = [("u9", "A1", "view", T0 + k * 3600) for k in range(30)]
    shift += [("u9", "B1", "view", T0 + 40 * 3600 + k * 3600) for k in range(30)]
    build(app_db, shift, config=InterestConfig(cadence="events:5"))
    at = open_page("cohorts")
    changes = frame_with(at, "emerged")
    assert changes[["user_id", "emerged", "faded"]].values.tolist() == [["u9", "Coffee", "Running"]]
    link = at.get("page_link")[0].proto
    assert link.page == "explorer" and parse_qs(link.query_string) == {"user": ["u9"]}


# --- the sample ----------------------------------------------------------------------------------------------
def test_adding_an_event_on_the_sample_is_quick(sample_app_db):
    at = open_page("live", timeout=120)
    user = at.selectbox(key="live_user").options[3]  # an ordinary user, not the heaviest
    choose(at, "live_user", user)
    at.run()
    choose(at, "live_type", "purchase")
    at.button(key="live_add_submit").click().run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Loaded"] == "1"
    seconds = float(metrics["Updated in"].removesuffix(" s"))
    print(f"sample add-event path: {seconds:.2f} s")  # the figure for the report; < 1 s on an idle machine
    assert seconds < 5
