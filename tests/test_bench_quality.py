"""`igcore bench quality` end to end on a small generated log: table, JSON in the DESIGN.md format."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from igcore.errors import IgcoreError
from igcore.evaluate.registry import MODELS, ModelContext, build_model
from igcore.evaluate.rows import base_model, row_name, run_settings, training_cost
from igcore.evaluate.runner import ModelJob, is_bench_command, load_split, run_in_child, run_model
from igcore.ingest import import_events
from igcore.store import Store
from igcore.synth import SynthConfig, generate, write

TINY_SASREC = {"epochs": "3", "eval_every": "1", "dim": "16"}


def test_bench_quality_writes_json_and_table(tmp_path):
    paths = write(generate(SynthConfig(seed=5, n_users=80, n_items=60, n_events=3000)), tmp_path / "log")
    env = {**os.environ, "IGCORE_BENCH_OUT": str(tmp_path / "out")}
    out = subprocess.run([sys.executable, "-m", "igcore.cli", "bench", "quality", "--dataset", str(paths["events"]),
                          "--protocol", "stream", "--models", "MostPop", "Markov"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "out" / "bench" / "results" / "events-stream.json").read_text())
    assert {"dataset", "protocol", "machine", "split", "models"} <= set(result)
    assert set(result["models"]) == {"MostPop", "MostPop (frozen)", "Markov", "Markov (frozen)"}
    row = result["models"]["Markov"]
    assert {"ndcg@10", "hr@10", "mrr", "train_s", "params", "history_excluded"} <= set(row)
    assert row["cases"] == result["split"]["test"] and row["machine"] == result["machine"]
    doc = (tmp_path / "out" / "docs" / "BENCHMARKS.md").read_text()
    assert "<!-- quality-events-stream -->" in doc and "| Markov (frozen) |" in doc
    again = subprocess.run([sys.executable, "-m", "igcore.cli", "bench", "quality", "--dataset",
                            str(paths["events"]), "--protocol", "stream", "--models", "MostPop"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    merged = json.loads((tmp_path / "out" / "bench" / "results" / "events-stream.json").read_text())
    assert set(merged["models"]) == set(result["models"])  # MostPop's rows replaced, Markov's kept
    assert merged["models"]["Markov"] == result["models"]["Markov"]
    doc = (tmp_path / "out" / "docs" / "BENCHMARKS.md").read_text()
    assert doc.index("| MostPop |") < doc.index("| MostPop (frozen) |") < doc.index("| Markov |")  # registry order
    assert "| MRR | coverage@10 | Gini@10 | APLT@10 | mean pop@10 | NDCG@10 light | NDCG@10 medium | " \
           "NDCG@10 heavy |" in doc
    assert {"gini_exposure@10", "aplt@10", "mean_pop@10", "ndcg@10_light", "ndcg@10_medium", "ndcg@10_heavy",
            "activity"} <= set(row)
    reranked = subprocess.run([sys.executable, "-m", "igcore.cli", "bench", "quality", "--dataset",
                               str(paths["events"]), "--protocol", "stream", "--models", "Markov", "--rerank",
                               "pop=0.5"], capture_output=True, text=True, env=env, timeout=300)
    assert reranked.returncode == 0, reranked.stderr
    models = json.loads((tmp_path / "out" / "bench" / "results" / "events-stream.json").read_text())["models"]
    assert set(models) == set(result["models"]) | {"Markov[rerank_pop=0.5]", "Markov[rerank_pop=0.5] (frozen)"}
    assert models["Markov[rerank_pop=0.5]"]["mean_pop@10"] < models["Markov"]["mean_pop@10"]  # beside, not over
    bad = subprocess.run([sys.executable, "-m", "igcore.cli", "bench", "quality", "--dataset", str(paths["events"]),
                          "--models", "Nope"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "valid names: MostPop" in bad.stderr


def test_each_row_names_the_machine_it_ran_on():
    from igcore.evaluate.bench import render_table

    row = {"ndcg@10": 0.05, "hr@10": 0.08, "train_s": 1, "eval_s": 1, "seeds_run": 1, "date": "2026-12-01",
           "nothing_excluded": {}}
    models = {"a": {**row, "machine": "AMD EPYC, 2 cores"}, "b": {**row, "machine": "Intel Xeon, 2 cores"}, "c": row}
    out = {"dataset": "d", "protocol": "loo", "headline": "history_excluded", "split": {},
           "machine": "AMD EPYC, 2 cores", "models": models}
    table = render_table(out)
    assert "machines as each row says (the latest run: AMD EPYC, 2 cores)" in table
    assert [line.rsplit("|", 2)[1].strip() for line in table.splitlines() if line.startswith("| a") or
            line.startswith("| b") or line.startswith("| c")] == ["AMD EPYC", "Intel Xeon", "not recorded"]
    out["models"] = {"a": out["models"]["a"]}
    assert render_table(out).splitlines()[2].startswith("AMD EPYC, 2 cores · each row from")


def test_rows_of_trained_models_keep_each_seeds_validation_curve():
    from types import SimpleNamespace

    from igcore.evaluate.protocols import EvalConfig
    from igcore.evaluate.rows import aggregate as _aggregate
    from igcore.evaluate.rows import curve as _curve

    log = [{"epoch": 1, "loss": 5.0, "valid_ndcg@10": 0.0712345}, {"epoch": 2, "loss": 4.0},
           {"epoch": 3, "loss": 3.5, "valid_ndcg@10": 0.081}]
    assert _curve(SimpleNamespace(log=log)) == [[1, 0.07123], [3, 0.081]]
    assert _curve(object()) == []  # a baseline: nothing trained, no curve
    metrics = {"ndcg@10": 0.05, "hr@10": 0.08, "segments": {}}
    run = {"variants": {"history_excluded": metrics, "nothing_excluded": metrics}, "train_s": 1.0, "eval_s": 1.0,
           "params": 3, "valid": None}
    config = EvalConfig("loo", exclude_seen=(True, False))
    row = _aggregate([{**run, "curve": [[1, 0.07]]}, {**run, "curve": [[1, 0.06], [2, 0.065]]}], config)
    assert row["curves"] == [[[1, 0.07]], [[1, 0.06], [2, 0.065]]]
    assert "curves" not in _aggregate([{**run, "curve": []}], config)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory) -> Path:
    """A small generated log in a store of its own (not bench/.work, which a test must not touch)."""
    folder = tmp_path_factory.mktemp("tiny")
    paths = write(generate(SynthConfig(seed=5, n_users=80, n_items=60, n_events=3000)), folder / "log")
    with Store(folder / "tiny.duckdb") as store:
        import_events(store, paths["events"])
    return folder / "tiny.duckdb"


def test_rows_run_with_settings_are_named_with_them_sorted():
    assert row_name("SASRec") == "SASRec" and row_name("SASRec", {}, None) == "SASRec"
    assert row_name("igcore", {"gnn": "lightgcn"}) == "igcore[gnn=lightgcn]"
    assert row_name("SASRec", {"dropout": "0.3", "dim": "64"}) == "SASRec[dim=64,dropout=0.3]"
    assert row_name("SASRec", None, 600.0) == "SASRec[budget=600]"
    assert row_name("SASRec", {"dim": "64"}, 0.5) == "SASRec[budget=0.5,dim=64]"
    assert row_name("SASRec", None, 0) == "SASRec[budget=0]"
    assert base_model("SASRec[budget=600,dim=64] (frozen)") == base_model("SASRec (frozen)") == "SASRec"


def test_budget_is_every_models_time_cap_and_zero_means_none():
    assert run_settings(None, None) == {}
    assert run_settings({"dim": "64"}, 600) == {"dim": "64", "max_train_s": 600}
    assert run_settings(None, 0) == {"max_train_s": math.inf}
    with pytest.raises(IgcoreError, match="not both"):
        run_settings({"max_train_s": "60"}, 600)
    with pytest.raises(IgcoreError, match="0 or more"):
        run_settings(None, -1)


def test_bench_flags_parse():
    from igcore.cli import _parser

    args = _parser().parse_args(["bench", "quality", "--dataset", "d", "--models", "SASRec", "--budget", "600",
                                 "--set", "dim=64", "--set", "dropout=0.3"])
    assert (args.budget, args.set, args.models) == (600.0, ["dim=64", "dropout=0.3"], ["SASRec"])
    assert _parser().parse_args(["bench", "quality", "--dataset", "d"]).budget is None
    args = _parser().parse_args(["bench", "budget", "--dataset", "toys", "--models", "SASRec", "igcore",
                                 "--budgets", "300", "600", "--seed", "1"])
    assert (args.budgets, args.seed, args.protocol, args.set) == ([300.0, 600.0], 1, "loo", None)


def test_overrides_reach_each_trained_models_config():
    sasrec = build_model("SASRec", ModelContext(seed=3, overrides={"dim": "64", "dropout": "0.3"}))
    assert (sasrec.cfg.dim, sasrec.cfg.dropout, sasrec.cfg.seed) == (64, 0.3, 3)
    assert build_model("LightGCN", ModelContext(overrides={"max_train_s": math.inf})).cfg.max_train_s == math.inf
    assert build_model("BSARec", ModelContext(overrides={"dim": "64", "max_train_s": 60})).cfg.dim == 64
    pipeline = build_model("igcore-no-text", ModelContext(overrides={"gnn": "lightgcn", "epochs": "7"}))
    assert (pipeline.cfg.gnn, pipeline.cfg.epochs, pipeline.cfg.use_text) == ("lightgcn", 7, False)
    assert build_model("SASRec", ModelContext()).cfg.dim == 128  # no overrides: the defaults


def test_an_unknown_setting_names_the_models_valid_ones():
    with pytest.raises(IgcoreError, match=r"SASRecConfig: unknown setting 'gnn'; valid settings: .*\bdim\b"):
        build_model("SASRec", ModelContext(overrides={"gnn": "gin"}))
    with pytest.raises(IgcoreError, match="MostPop has no settings"):
        build_model("MostPop", ModelContext(overrides={"dim": "64"}))


def test_a_factory_that_drops_the_overrides_is_refused(monkeypatch):
    from igcore.evaluate.sasrec import SASRec

    monkeypatch.setitem(MODELS, "Deaf", lambda ctx: SASRec())
    with pytest.raises(IgcoreError, match="Deaf ignores settings"):
        build_model("Deaf", ModelContext(overrides={"dim": "64"}))


def test_training_cost_from_a_log():
    log = [{"epoch": 1, "positions": 10, "valid_ndcg@10": 0.1}, {"epoch": 2, "positions": 10, "valid_ndcg@10": 0.3},
           {"epoch": 3, "positions": 10, "valid_ndcg@10": 0.3, "capped": True}]
    assert training_cost(log, 6.0) == {"s_per_epoch": 2.0, "s_per_position": 0.2, "positions": 30, "epochs": 3,
                                       "best_epoch": 2, "capped": True}  # a tie is no improvement
    assert training_cost([{"epoch": 1, "positions": 4}], 1.0)["best_epoch"] == 1  # nothing validated: the last


def test_bench_commands_are_recognised_in_proc():
    assert is_bench_command(["/x/.venv/bin/python", "-m", "igcore.cli", "bench", "quality", "--dataset", "d"])
    assert is_bench_command(["/x/.venv/bin/igcore", "bench", "budget"])
    assert is_bench_command(["python", "bench/pipeline_speed.py", "--datasets", "sample"])
    assert not is_bench_command(["python", "-m", "pytest", "tests/test_bench_quality.py"])
    assert not is_bench_command(["igcore", "train", "--set", "epochs=2"])


def test_the_time_cap_and_the_cost_of_a_trained_model(tiny_store):
    split = load_split(tiny_store, "loo")
    capped = run_model(ModelJob("SASRec", ModelContext(store_path=tiny_store,
                                                       overrides=run_settings(TINY_SASREC, 1e-9)), "loo"), split)[""]
    cost = capped["cost"]
    assert (cost["epochs"], cost["best_epoch"], cost["capped"]) == (1, 1, True)
    whole = run_model(ModelJob("SASRec", ModelContext(store_path=tiny_store, overrides=run_settings(TINY_SASREC, 0)),
                               "loo"), split)[""]
    cost = whole["cost"]
    assert cost["epochs"] == len(whole["curve"]) == 3 and not cost["capped"]
    assert cost["positions"] == 3 * capped["cost"]["positions"]  # every epoch trains every position once
    assert cost["s_per_position"] == whole["train_s"] / cost["positions"]
    assert cost["s_per_epoch"] == whole["train_s"] / 3
    assert cost["best_epoch"] == max(whole["curve"], key=lambda e: e[1])[0]
    assert set(cost["concurrency"]) == {"torch_threads", "bench_processes", "load_avg_1m"}


def test_a_child_process_measures_what_this_process_does(tiny_store):
    job = ModelJob("Markov", ModelContext(store_path=tiny_store), "loo")
    here, child = run_model(job)[""], run_in_child(job)[""]
    assert child["variants"] == json.loads(json.dumps(here["variants"])) and child["valid"] == here["valid"]
    assert "cost" not in child  # a baseline trains no epochs
    job = ModelJob("Markov", ModelContext(store_path=tiny_store), "loo", pop_penalty=0.5)  # re-ranked there too
    reranked, child = run_model(job)[""]["variants"], run_in_child(job)[""]["variants"]
    assert child == json.loads(json.dumps(reranked)) != json.loads(json.dumps(here["variants"]))
    assert reranked["history_excluded"]["mean_pop@10"] < here["variants"]["history_excluded"]["mean_pop@10"]


@pytest.mark.slow
def test_bench_quality_records_the_cost_of_trained_rows(tmp_path):
    paths = write(generate(SynthConfig(seed=5, n_users=80, n_items=60, n_events=3000)), tmp_path / "log")
    env = {**os.environ, "IGCORE_BENCH_OUT": str(tmp_path / "out")}
    cmd = [sys.executable, "-m", "igcore.cli", "bench", "quality", "--dataset", str(paths["events"]), "--protocol",
           "loo", "--models", "MostPop", "SASRec", "--budget", "0.001"]
    out = subprocess.run(cmd + [arg for k, v in TINY_SASREC.items() for arg in ("--set", f"{k}={v}")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = json.loads((tmp_path / "out" / "bench" / "results" / "events-loo.json").read_text())["models"]
    assert list(rows) == ["MostPop", "SASRec[budget=0.001,dim=16,epochs=3,eval_every=1]"]
    row = rows["SASRec[budget=0.001,dim=16,epochs=3,eval_every=1]"]
    assert {"s_per_epoch", "s_per_position", "epochs", "best_epoch", "capped", "peak_rss_mb", "concurrency"} <= set(row)
    assert (row["epochs"], row["best_epoch"], row["capped"]) == (1, 1, True) and row["peak_rss_mb"] > 0
    assert row["s_per_position"] == row["train_s"] / row["positions"] and len(row["curves"][0]) == row["epochs"]
    assert row["concurrency"]["bench_processes"] >= 1  # the run itself
    assert "s_per_epoch" not in rows["MostPop"]
    bad = subprocess.run(cmd[:-2] + ["--set", "nope=1"], capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 1 and "unknown setting 'nope'; valid settings: lr" in bad.stderr


def test_decoder_weights_are_the_gates_mean_over_users_and_fold_over_seeds_into_the_table():
    import numpy as np

    from igcore.evaluate.bench import render_table
    from igcore.evaluate.decoder import decoder_weights
    from igcore.evaluate.protocols import EvalConfig
    from igcore.evaluate.rows import aggregate
    from igcore.events import from_arrays
    from igcore.pipeline.config import PipelineConfig
    from igcore.pipeline.model import IgcoreRecommender

    log = from_arrays([f"u{i % 6}" for i in range(60)], [f"i{(i * 7) % 11}" for i in range(60)], list(range(60)))
    tiny = PipelineConfig(dim=8, max_len=6, epochs=1, batch_size=8, memory_dim=4, time_dim=2, device="cpu",
                          interests=3, use_text=False, gnn_layers=2)
    model = IgcoreRecommender(tiny, graph_on="users")
    model.fit(log)
    got = decoder_weights(model)
    gates = model.source_weights(np.arange(6))
    assert list(got["sources"]) == ["sequence", "graph", "memory"]
    assert list(got["sources"].values()) == [round(float(w), 4) for w in gates.mean(0)]
    shares = model.interest_state(np.arange(6))[1]
    assert got["interests"] == {"top_share": round(float(shares.max(1).mean()), 4),
                                "held": round(float((shares >= 0.1).sum(1).mean()), 2)}
    assert decoder_weights(object()) is None  # a baseline has no gate
    at_score = IgcoreRecommender(tiny, graph_weight=0.5)  # the graph at the score: no gate source, its weight
    at_score.fit(log)
    assert list(decoder_weights(at_score)["sources"]) == ["sequence", "memory"]
    assert decoder_weights(at_score)["graph"] == {"weight": 0.5}

    metrics = {"ndcg@10": 0.05, "hr@10": 0.08, "segments": {}}
    run = {"variants": {"history_excluded": metrics, "nothing_excluded": metrics}, "train_s": 1.0, "eval_s": 1.0,
           "params": 3, "valid": None, "curve": []}
    seeds = [{**run, "decoder": {"sources": {"sequence": 0.9, "graph": 0.1}}},
             {**run, "decoder": {"sources": {"sequence": 0.7, "graph": 0.3}}}]
    row = aggregate(seeds, EvalConfig("loo", exclude_seen=(True, False)))
    assert row["decoder"] == {"sources": {"sequence": 0.8, "graph": 0.2}}
    scored = aggregate([{**run, "decoder": {"sources": {"sequence": 1.0}, "graph": {"weight": w}}} for w in (0.1, 0.2)],
                       EvalConfig("loo", exclude_seen=(True, False)))
    table = render_table({"dataset": "d", "protocol": "loo", "headline": "history_excluded", "split": {},
                          "machine": "m", "models": {"igcore": {**row, "date": "2026-12-07", "machine": "m"},
                                                     "igcore-b": {**scored, "date": "2026-12-07", "machine": "m"}}})
    assert "| igcore | 0.800 | 0.200 | – | – | – | – |" in table.splitlines()
    assert "| igcore-b | 1.000 | – | – | – | – | 0.15 |" in table.splitlines()
