"""`igcore bench budget` end to end on a small generated log with tiny budgets: one row per model and budget,
the JSON and the table written into a temporary folder ($IGCORE_BENCH_OUT), never the repository's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from igcore.evaluate.budget import budget_command
from igcore.synth import SynthConfig, generate, write


def test_the_command_above_the_table_reproduces_the_run():
    assert budget_command("toys", ["SASRec", "igcore"], [300.0, 600.0], 0, "loo", None) == (
        "igcore bench budget --dataset toys --models SASRec igcore --budgets 300 600 --seed 0")
    assert budget_command("beauty", ["SASRec"], [0.5], 1, "temporal", {"dim": "64"}).endswith(
        "--budgets 0.5 --seed 1 --protocol temporal --set dim=64")


@pytest.mark.slow
def test_bench_budget_writes_one_row_per_model_and_budget(tmp_path):
    paths = write(generate(SynthConfig(seed=5, n_users=80, n_items=60, n_events=3000)), tmp_path / "log")
    env = {**os.environ, "IGCORE_BENCH_OUT": str(tmp_path / "out")}
    base = [sys.executable, "-m", "igcore.cli", "bench", "budget", "--dataset", str(paths["events"])]
    out = subprocess.run(base + ["--models", "SASRec", "--budgets", "0", "0.001", "--set", "epochs=2",
                                 "--set", "dim=16"], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "out" / "bench" / "results" / "events-budget.json").read_text())
    assert {"dataset", "protocol", "date", "machine", "command", "split", "models"} <= set(result)
    assert set(result["models"]) == {"SASRec[budget=0,dim=16,epochs=2]", "SASRec[budget=0.001,dim=16,epochs=2]"}
    uncapped, capped = result["models"]["SASRec[budget=0,dim=16,epochs=2]"], \
        result["models"]["SASRec[budget=0.001,dim=16,epochs=2]"]
    assert (uncapped["epochs"], uncapped["capped"]) == (2, False) and (capped["epochs"], capped["capped"]) == (1, True)
    assert (capped["budget"], capped["seed"], capped["settings"]) == (0.001, 0, {"dim": "16", "epochs": "2"})
    assert capped["peak_rss_mb"] > 0 and capped["s_per_position"] == capped["train_s"] / capped["positions"]
    doc = (tmp_path / "out" / "docs" / "BENCHMARKS.md").read_text()
    section = doc.split("<!-- budget-events -->")[1].split("<!-- /budget-events -->")[0]
    assert result["command"] in section and result["machine"] in section and result["date"] in section
    table = [line for line in section.splitlines() if line.startswith("| SASRec")]
    assert [line.split("|")[2].strip() for line in table] == ["0.001", "0"]  # no cap listed last
    bad = subprocess.run(base + ["--models", "MostPop", "--budgets", "60"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert bad.returncode == 1 and "no training budget applies to MostPop" in bad.stderr
