"""Data-parallel training on Ray against one worker, on the bundled sample.

Trains the pipeline as ``igcore train`` does (every user's last event is validation; early stopping picks the
epoch on it) once in one process without Ray, and once per entry of ``--workers`` on a local Ray cluster (Ray
Train, disjoint user shards, gradients averaged by DDP), each with the same config and seed. Records each run's
best validation NDCG@10, its epochs, its wall time (Ray's start included) and the users on each worker; the
ratio of every Ray run's validation NDCG@10 to that of one Ray worker is the figure the issue sets a bar for.
Results go to bench/results/distributed.json and the ``distributed`` section of docs/BENCHMARKS.md.

    .venv/bin/python bench/distributed.py [--workers 1 2] [--seeds 1] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import WORK, machine, today, write_json, write_section  # noqa: E402


def sample_store() -> Path:
    """The bundled sample in a store of its own (built once, reused)."""
    from igcore.datasets import ensure_sample
    from igcore.store import Store

    db = WORK / "distributed" / "sample.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    with Store(db) as store:
        ensure_sample(store)
    return db


def run(db: Path, config, workers: int | None, out: Path) -> dict:
    """One training run: in one process (``workers`` None) or on Ray with that many workers."""
    from igcore.cluster import RayCluster
    from igcore.pipeline.run import train
    from igcore.store import Store

    t0 = time.perf_counter()
    with Store(db) as store:
        model, path = train(store, config, out, cluster=RayCluster(workers) if workers else None)
    scores = [e.get("valid_ndcg@10", float("-inf")) for e in model.log]
    best = max(range(len(scores)), key=scores.__getitem__)
    meta = json.loads((path / "model.json").read_text())
    return {"workers": workers or 0, "seed": config.seed, "valid_ndcg@10": round(scores[best], 4),
            "best_epoch": best + 1, "epochs": len(model.log), "wall_s": round(time.perf_counter() - t0, 1),
            "users_per_worker": meta.get("users_per_worker", [len(meta["user_ids"])])}


def main() -> None:
    from igcore.config import load_config, parse_assignments
    from igcore.pipeline.config import PipelineConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="pipeline setting")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load = os.getloadavg()[0]
    db = sample_store()
    overrides = parse_assignments(args.set)
    rows = []
    for seed in range(args.seeds):
        config = load_config(PipelineConfig, None, {**overrides, "seed": str(seed)})
        for workers in [None, *args.workers]:
            row = run(db, config, workers, WORK / "distributed" / f"model-{workers or 0}-{seed}")
            print(row, flush=True)
            rows.append(row)

    def median_of(workers: int) -> float:
        return statistics.median(r["valid_ndcg@10"] for r in rows if r["workers"] == workers)

    one = median_of(1) if 1 in args.workers else None
    summary = {n: {"valid_ndcg@10": median_of(n), "ratio_to_one_worker": round(median_of(n) / one, 4) if one else None}
               for n in sorted({r["workers"] for r in rows})}
    command = "python bench/distributed.py " + " ".join(sys.argv[1:])
    data = {"date": today(), "machine": machine(), "command": command.strip(), "settings": overrides,
            "load_average": round(load, 2), "rows": rows, "summary": summary}
    write_json("distributed", data)
    write_section("distributed", section(data))


def section(data: dict) -> str:
    """The table: each run against one Ray worker with the same seed, then the medians over seeds."""
    rows, seeds = data["rows"], len({r["seed"] for r in data["rows"]})
    one = {r["seed"]: r["valid_ndcg@10"] for r in rows if r["workers"] == 1}
    lines = ["## Data-parallel training (Ray)", "",
             "Data-parallel training on a local Ray cluster (Ray Train `TorchTrainer`, disjoint user shards, DDP), "
             "the bundled sample, validation NDCG@10 on each user's last event, early stopping as `igcore train`; "
             f"{seeds} seed(s); load average {data['load_average']:.1f} at the start. {data['date']}, "
             f"{data['machine']}. `{data['command']}`", "",
             "| run | users per worker | validation NDCG@10 | ratio to 1 Ray worker | epochs (best) | wall s |",
             "|---|---|---:|---:|---:|---:|"]

    def name(workers: int) -> str:
        return f"Ray, {workers} worker(s)" if workers else "one process, no Ray"

    for r in rows:
        ratio = f"{r['valid_ndcg@10'] / one[r['seed']]:.3f}" if r["seed"] in one else "-"
        lines.append(f"| {name(r['workers'])} (seed {r['seed']}) | {', '.join(map(str, r['users_per_worker']))} | "
                     f"{r['valid_ndcg@10']:.4f} | {ratio} | {r['epochs']} ({r['best_epoch']}) | {r['wall_s']} |")
    for workers, m in data["summary"].items():
        ratio = f"{m['ratio_to_one_worker']:.3f}" if m["ratio_to_one_worker"] is not None else "-"
        lines.append(f"| **{name(int(workers))}, median of {seeds} seeds** | | {m['valid_ndcg@10']:.4f} | {ratio} | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
