"""Tuning our SASRec on validation only: a small, logged grid on Beauty's leave-one-out validation events.

One setting is changed at a time around the library's defaults (training samples, width, dropout, maximum
length, learning rate), each trained once (seed 0) with the harness's early stopping; the grid and every
setting's best validation NDCG@10 go to ``bench/results/beauty-sasrec-grid.json`` and the table "SASRec on
Beauty validation" of docs/BENCHMARKS.md. A row names its settings that differ from today's defaults (rows of
an earlier grid around earlier defaults name those too, e.g. ``samples=positions,dim=64``). Test events are
never scored here: the choice is made on validation alone.

    OMP_NUM_THREADS=1 .venv/bin/python bench/sasrec_grid.py [--dataset beauty] [--only dim=64 ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import locked, machine, read_json, today, write_json, write_section  # noqa: E402
from igcore.config import load_config, parse_assignments  # noqa: E402
from igcore.evaluate.bench import dataset_interactions, make_split  # noqa: E402
from igcore.evaluate.sasrec import SASRec, SASRecConfig  # noqa: E402

GRID = ["", "samples=positions", "dim=64", "dim=256", "dropout=0.3", "max_len=100", "lr=0.001", "lr=0.004"]


def run_setting(setting: str, split, seed: int) -> dict:
    config = load_config(SASRecConfig, None, parse_assignments(setting.split(",") if setting else []))
    model = SASRec(config, seed=seed, device="cpu")
    t0 = time.perf_counter()
    model.fit(split.train, split.valid)
    curve = [[e["epoch"], round(e["valid_ndcg@10"], 5)] for e in model.log if "valid_ndcg@10" in e]
    return {"valid_ndcg@10": max(v for _, v in curve), "curve": curve, "train_s": round(time.perf_counter() - t0, 1),
            "seed": seed, "date": today(), "machine": machine()}


def table(name: str, rows: dict[str, dict]) -> str:
    best = max(rows, key=lambda k: rows[k]["valid_ndcg@10"])
    lines = ["## SASRec on Beauty validation", "",
             f"`.venv/bin/python bench/sasrec_grid.py --dataset {name}`: each row names the settings it changes "
             "from the library's defaults, seed 0, best validation NDCG@10 (history excluded) under the "
             "harness's early stopping. "
             f"Best: `{best or 'defaults'}`.", "",
             "| setting | valid NDCG@10 | epochs | train s | date | machine |", "|---|---:|---:|---:|---|---|"]
    for key, r in sorted(rows.items(), key=lambda kv: -kv[1]["valid_ndcg@10"]):
        lines.append(f"| {key or 'defaults'} | {r['valid_ndcg@10']:.4f} | {r['curve'][-1][0]} | {r['train_s']:.0f} | "
                     f"{r['date']} | {r['machine']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--only", nargs="*", help="run these settings only (default: the whole grid); KEY=VALUE,...")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    name, _, data = dataset_interactions(args.dataset)
    split = make_split(data, "loo")
    out = f"{name}-sasrec-grid"
    for setting in (GRID if args.only is None else args.only):
        row = run_setting(setting, split, args.seed)
        print(setting or "defaults", row["valid_ndcg@10"], row["train_s"], flush=True)
        with locked(out):  # parallel processes over one grid merge their rows
            rows = {**(read_json(out) or {}), setting: row}
            write_json(out, rows)
            write_section(out, table(name, rows))


if __name__ == "__main__":
    main()
