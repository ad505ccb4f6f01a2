"""The pipeline page under Streamlit's AppTest: its settings, training with a live loss curve on a small store,
and the benchmark table and stage ablation read from a results folder written here."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from igcore.dashboard import training
from igcore.dashboard.text import md_literal
from igcore.embed.gnn import GNNS
from igcore.ingest import import_events, import_items
from igcore.pipeline.run import checkpoint_dir
from igcore.store import Store
from tests.conftest import REPO


def small_shop(path, tmp_path) -> None:
    """30 users x 20 events over 15 titled items; each user walks the items in their own order."""
    items = tmp_path / "items.csv"
    items.write_text("item_id,title,category\n" + "".join(
        f"i{i},Item number {i},{'tea' if i < 8 else 'garden'}\n" for i in range(15)))
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,event_type,timestamp\n" + "".join(
        f"u{u},i{(u + 3 * k) % 15},view,{1_700_000_000 + 3600 * (u * 20 + k)}\n" for u in range(30) for k in range(20)))
    with Store(path) as store:
        import_items(store, items)
        import_events(store, events)


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    folder.mkdir()
    monkeypatch.setenv(training.RESULTS_ENV, str(folder))
    return folder


@pytest.fixture
def shop_db(tmp_path, monkeypatch, results_dir):
    path = tmp_path / "shop.duckdb"
    small_shop(path, tmp_path)
    monkeypatch.setenv("IGCORE_DB", str(path))
    return path


def page(timeout: int = 60) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    at.run()
    at.switch_page("pages/pipeline.py").run()
    assert not at.exception
    return at


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def row(ndcg: float, hr: float, mrr: float, train_s: float, seeds: int, **extra) -> dict:
    return {"ndcg@10": ndcg, "hr@10": hr, "mrr": mrr, "train_s": train_s, "seeds_run": seeds, "date": "2026-11-30",
            "eval_s": 1.0, "params": 0, **extra}


def test_settings_offer_the_pipeline_choices(shop_db):
    at = page()
    assert {c.key: (c.label, c.value) for c in at.checkbox} == {
        "pipeline_use_text": ("Text encoder", True), "pipeline_use_graph": ("Graph", True),
        "pipeline_use_temporal": ("Temporal memory (TGN)", True),
        "pipeline_rebuild": ("Rebuild interest snapshots with the trained model", True)}
    graph_on = at.selectbox(key="pipeline_graph_on")
    assert graph_on.options == ["at the score", "on users (GNN)", "on items (GNN)"] and graph_on.value == "score"
    gnn = at.selectbox(key="pipeline_gnn")
    assert gnn.options == list(GNNS) == ["gin", "gcn", "gat", "sage", "lightgcn"] and gnn.value == "gin"
    device = at.selectbox(key="pipeline_device")
    assert device.options == ["auto", "cpu", "cuda"] and device.value == "auto"
    assert at.number_input(key="pipeline_epochs").value == training.DASHBOARD_EPOCHS
    assert at.select_slider(key="pipeline_dim").value == 128
    assert [b.label for b in at.button] == ["Train"]
    assert "No model trained on this store yet" in at.info[0].value
    assert "No benchmark results in" in at.info[1].value  # the results folder is empty


def test_benchmark_table_and_ablation_show_exactly_the_files_rows(shop_db, results_dir):
    evil = '<img src=x onerror=alert(1)>'
    sample = {"dataset": "sample <b>x</b>", "protocol": "temporal", "headline": "nothing_excluded",
              "machine": "test box", "models": {
                  "MostPop": row(0.01, 0.02, 0.005, 0.1, 1),
                  evil: row(0.02, 0.04, 0.015, 2.5, 1),
                  "SASRec": row(0.2, 0.3, 0.15, 40.0, 3, **{"ndcg@10_std": 0.01}),
                  "igcore": row(0.25, 0.35, 0.2, 60.0, 3),
                  "igcore-no-text": row(0.22, 0.33, 0.18, 50.0, 1),
                  "igcore-no-graph": row(0.21, 0.31, 0.17, 45.0, 1)}}
    (results_dir / "sample-temporal.json").write_text(json.dumps(sample))
    exposure = {"gini_exposure@10": 0.81, "aplt@10": 0.12, "mean_pop@10": 345.6, "ndcg@10_light": 0.031,
                "ndcg@10_medium": 0.037, "ndcg@10_heavy": 0.045}
    beauty = {"dataset": "beauty", "protocol": "loo", "headline": "history_excluded", "machine": "m",
              "models": {"ItemKNN": row(0.0375, 0.0621, 0.0344, 0.4, 1, **exposure),
                         "SASRec": row(0.043, 0.0755, 0.0387, 314.5, 3)}}
    (results_dir / "beauty-loo.json").write_text(json.dumps(beauty))
    (results_dir / "speed.json").write_text(json.dumps({"x": {"value": 1}}))  # not a quality table: ignored
    (results_dir / "taobao-stream.json").write_text("{not json")
    at = page()

    assert "taobao-stream.json: not a readable results file" in at.warning[0].value.replace("\\", "")
    pick = at.selectbox(key="pipeline_bench_file")
    assert pick.options == ["beauty · loo", "sample <b>x</b> · temporal"]
    assert pick.value == 1  # the file with the pipeline's rows comes first
    table = at.dataframe[0].value
    assert table.columns.tolist() == ["model", "NDCG@10", "HR@10", "MRR", "Gini@10", "APLT@10", "mean pop@10",
                                      "NDCG@10 light", "NDCG@10 medium", "NDCG@10 heavy", "train s", "seeds", "date"]
    assert table["model"].tolist() == ["MostPop", evil, "SASRec", "igcore", "igcore-no-text", "igcore-no-graph"]
    assert table["NDCG@10"].tolist() == [0.01, 0.02, 0.2, 0.25, 0.22, 0.21]
    assert table["HR@10"].tolist() == [0.02, 0.04, 0.3, 0.35, 0.33, 0.31]
    assert table["MRR"].tolist() == [0.005, 0.015, 0.15, 0.2, 0.18, 0.17]
    assert table["train s"].tolist() == [0.1, 2.5, 40.0, 60.0, 50.0, 45.0]
    assert table["seeds"].tolist() == [1, 1, 3, 3, 1, 1]
    assert set(table["date"]) == {"2026-11-30"}

    [figure] = figures(at)  # only the sample file has ablation rows
    [bars] = figure["data"]
    assert bars["type"] == "bar"
    assert bars["x"] == ["igcore", "igcore-no-text", "igcore-no-graph"]
    assert bars["y"] == [0.25, 0.22, 0.21]
    [line] = figure["layout"]["shapes"]
    assert line["y0"] == line["y1"] == 0.2  # SASRec as the reference
    assert figure["layout"]["title"]["text"].startswith("sample &lt;b&gt;x&lt;/b&gt; · temporal")

    pick.set_value(0).run()
    table = at.dataframe[0].value
    assert table["model"].tolist() == ["ItemKNN", "SASRec"]
    assert table["NDCG@10"].tolist() == [0.0375, 0.043] and table["train s"].tolist() == [0.4, 314.5]
    assert table.iloc[0, 4:10].tolist() == [0.81, 0.12, 345.6, 0.031, 0.037, 0.045]  # exposure beside accuracy
    assert table.iloc[1, 4:10].isna().all()  # a row measured before these figures existed: empty, not zero
    assert training.EXPOSURE_CAPTION in [c.value for c in at.caption]


def test_training_runs_from_the_page_with_a_live_loss_curve(shop_db):
    at = page(timeout=120)
    at.number_input(key="pipeline_epochs").set_value(2)
    at.select_slider(key="pipeline_dim").set_value(16)
    at.button[0].click().run()
    assert not at.exception and not at.error

    [bar] = at.get("progress")
    assert bar.proto.value == 100 and bar.proto.text == "Done"
    [curve] = figures(at)
    loss = curve["data"][0]
    assert loss["name"] == "training loss" and loss["x"] == [1, 2] and len(loss["y"]) == 2 and min(loss["y"]) > 0
    assert (checkpoint_dir(shop_db) / "weights.safetensors").exists()
    meta = json.loads((checkpoint_dir(shop_db) / "model.json").read_text())
    config = meta["config"]
    assert (config["epochs"], config["dim"], config["gnn"], config["use_text"]) == (2, 16, "gin", True)
    assert (config["samples"], meta["samples"]) == ("auto", "positions")  # windows of 18 targets: above the limit
    message = at.success[0].value.replace("\\", "")
    assert message.startswith("Trained igcore in ") and "(2 epochs" in message
    assert str(checkpoint_dir(shop_db)) in message and "Interest snapshots rebuilt with the model" in message
    with Store(shop_db, read_only=True) as store:  # the model's lists and affinities are stored
        assert store.value("SELECT count(DISTINCT user_id) FROM recommendation_snapshots WHERE scorer = 'model'") == 30
        assert store.value("SELECT count(*) FROM interest_weights WHERE predicted IS NOT NULL") > 0

    at.run()  # a later rerun shows the last outcome again, and the model now trained
    assert at.success[0].value == md_literal(at.session_state["pipeline_last_training"].summary())
    captions = [c.value.replace("\\", "") for c in at.caption]
    weight = meta["graph"]["weight"]  # chosen on validation among those it measured, the best of them
    measured = {float(w): v for w, v in meta["graph"]["valid_ndcg@10"].items()}
    assert weight == min(w for w, v in measured.items() if v == max(measured.values()))
    assert f"best validation NDCG@10 {measured[weight]:.4f} with the graph's weight {weight:g})" in message
    assert any(f"Current model: igcore (graph at the score, weight {weight:g}, dim 16)" in c
               and "on 600 events for 2 epochs on windows" in c for c in captions)


def test_training_on_a_store_without_events_says_so(tmp_path, monkeypatch, results_dir):
    path = tmp_path / "empty.duckdb"
    Store(path).close()
    monkeypatch.setenv("IGCORE_DB", str(path))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["prepared"] = str(path)  # as if started before: keep the store empty (no sample load)
    at.switch_page("pages/pipeline.py").run()
    at.button[0].click().run()
    assert not at.exception
    assert "Training failed" in at.error[0].value and "the store holds no events" in at.error[0].value
    assert not at.success and not (checkpoint_dir(path) / "weights.safetensors").exists()
