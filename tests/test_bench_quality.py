"""`igcore bench quality` end to end on a small generated log: table, JSON in the DESIGN.md format."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from igcore.synth import SynthConfig, generate, write


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

    from igcore.evaluate.bench import _aggregate, _curve
    from igcore.evaluate.protocols import EvalConfig

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
