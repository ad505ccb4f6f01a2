"""bench/fairness.py on a small generated log: one fit, several re-ranking strengths, the same figures at
strength 0 as the harness's own row, its JSON and table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from igcore.evaluate.registry import ModelContext
from igcore.evaluate.runner import ModelJob, load_split, run_model
from igcore.synth import SynthConfig, generate, write
from tests.conftest import REPO


def test_fairness_bench_measures_the_trade_off_from_one_scoring(tmp_path):
    paths = write(generate(SynthConfig(seed=5, n_users=80, n_items=60, n_events=3000)), tmp_path / "log")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(REPO / "bench" / "fairness.py"), "--datasets", str(paths["events"]),
                           "--models", "Markov", "--strengths", "0", "1000"], capture_output=True, text=True,
                          env={**os.environ, "IGCORE_BENCH_OUT": str(out)}, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "bench" / "results" / "fairness-events.json").read_text())
    assert list(result["rows"]) == ["Markov[rerank_pop=0]", "Markov[rerank_pop=1000]"]
    own, flipped = result["rows"].values()
    harness = run_model(ModelJob("Markov", ModelContext(store_path=out / "bench" / ".work" / "events.duckdb"), "loo"),
                        load_split(out / "bench" / ".work" / "events.duckdb", "loo"))[""]["variants"]
    assert {k: own[k] for k in ("ndcg@10", "hr@10", "gini_exposure@10", "aplt@10", "mean_pop@10")} == \
        {k: harness["history_excluded"][k] for k in ("ndcg@10", "hr@10", "gini_exposure@10", "aplt@10", "mean_pop@10")}
    assert flipped["mean_pop@10"] < own["mean_pop@10"]
    doc = (out / "docs" / "BENCHMARKS.md").read_text()
    assert "<!-- fairness-events -->" in doc and "| Markov | 1000 |" in doc and "--strengths 0 1000" in doc
