"""What online updates can add on the sample's stream: the test events that follow a drift planted inside the
test period, and what each model gains online there and elsewhere.

The issue "One model, one interest graph" asks for online NDCG@10 at least 1.05x frozen on the sample's stream.
Online updates can only help where the test period holds something the state at its start does not: a user's
interest that changes inside it (the planted drift, ``data/sample/drift_truth.csv``), or the events of the
period itself. This bench splits the stream's test events (the harness's ``stream`` split of the bundled sample)
into those after their user's planted drift, where that drift falls inside the test period, and all others, and
measures each model online and frozen (``igcore bench quality``'s two stream rows, from one fit) on both groups:
NDCG@10 with nothing excluded, the stream's headline. It also counts the test events whose user's previous event
lies in the same replay batch: the protocol predicts a batch from the state before it, so online updates reach
such an event only through the user's earlier batches. A run replaces the rows of the models it names; the
others stay (``--models`` alone: the counts only).

    OMP_NUM_THREADS=1 .venv/bin/python bench/stream_headroom.py --models Markov igcore igcore-no-temporal --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import WORK, machine, read_json, today, write_json, write_section  # noqa: E402
from igcore.evaluate.protocols import EvalConfig, fit, measure  # noqa: E402
from igcore.evaluate.registry import ModelContext, build_model  # noqa: E402
from igcore.evaluate.runner import load_split  # noqa: E402
from igcore.evaluate.splits import Split  # noqa: E402
from igcore.paths import SAMPLE_DIR  # noqa: E402
from igcore.ranking import ndcg  # noqa: E402

SEEDED = ("igcore", "SASRec", "BSARec", "LightGCN")  # name prefixes of models trained with a seed


def after_drift(split: Split, truth: Path) -> np.ndarray:
    """Per test event (in the split's order): whether its user's planted drift lies inside the test period and
    the event comes at or after it."""
    at = np.full(split.train.n_users, np.iinfo(np.int64).max)
    index = {uid: u for u, uid in enumerate(split.train.user_ids.tolist())}
    with truth.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["user_id"] in index:
                at[index[row["user_id"]]] = int(dt.datetime.fromisoformat(row["timestamp"]).timestamp())
    drift_at = at[split.test.user]
    return (drift_at > int(split.info["cutoff_test"])) & (split.test.ts >= drift_at)


def previous_in_batch(split: Split, batch: int) -> int:
    """Test events whose user's previous test event lies in the same replay batch of ``batch`` events."""
    users, batches = split.test.user, np.arange(len(split.test)) // batch
    order = np.argsort(users, kind="stable")  # each user's test events in time order, users one after another
    same_user = users[order][1:] == users[order][:-1]
    return int((same_user & (batches[order][1:] == batches[order][:-1])).sum())


def run(name: str, seed: int, db: Path, split: Split, groups: dict[str, np.ndarray]) -> dict:
    model = build_model(name, ModelContext(seed, "cpu", False, db, {}))
    fit(model, split)
    out = {}
    for row, frozen in (("online", False), ("frozen", True)):
        config = EvalConfig("stream", exclude_seen=(False,), frozen=frozen, keep_ranks=True)
        ranks = measure(copy.deepcopy(model), split, config)["ranks"]
        out[row] = {group: ndcg(ranks[mask], 10) for group, mask in groups.items()}
    return out


def section(data: dict) -> str:
    share = data["after_drift"] / data["test_events"]
    lines = ["Each row from `.venv/bin/python bench/stream_headroom.py --models NAME... --seeds S...` (a run replaces "
             f"the rows of the models it names); the counts from the latest run: {data['date']} · {data['machine']}.",
             "",
             f"The sample's stream split: {data['test_events']:,} test events, of which {data['after_drift']:,} "
             f"({share:.1%}) follow their user's planted drift, that drift inside the test period "
             f"({data['drift_users']} users). {data['previous_in_batch']:,} test events "
             f"({data['previous_in_batch'] / data['test_events']:.1%}) have their user's previous event in the same "
             f"replay batch of {data['batch']} events, which is predicted from the state before it. NDCG@10 (nothing "
             "excluded), mean over the seeds of a seeded model; online and frozen from one fit each.",
             "",
             "| model | seeds | all: online | all: frozen | ratio | after a drift: online | frozen | ratio "
             "| other events: online | frozen | ratio | date | machine |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for name, row in data["rows"].items():
        cells = []
        for group in ("all", "after drift", "other"):
            on, off = row["online"][group], row["frozen"][group]
            cells += [f"{on:.4f}", f"{off:.4f}", f"{on / off:.3f}"]
        lines.append(f"| {name} | {row['seeds']} | " + " | ".join(cells) + f" | {row['date']} | {row['machine']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=["Markov", "igcore", "igcore-no-temporal"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    db = WORK / "sample.duckdb"
    if not db.exists():
        sys.exit(f"{db} is missing: run `.venv/bin/igcore dataset sample --db {db}` first")
    split = load_split(db, "stream")
    drift = after_drift(split, SAMPLE_DIR / "drift_truth.csv")
    groups = {"all": np.ones(len(drift), dtype=bool), "after drift": drift, "other": ~drift}
    rows = (read_json("stream-headroom") or {}).get("rows", {})
    for name in args.models:
        seeds = args.seeds if name.startswith(SEEDED) else args.seeds[:1]
        runs = [run(name, seed, db, split, groups) for seed in seeds]
        rows[name] = {"seeds": len(seeds), "date": today(), "machine": machine(),
                      **{r: {g: statistics.fmean(x[r][g] for x in runs) for g in groups} for r in ("online", "frozen")}}
        print(name, rows[name], flush=True)
    data = {"date": today(), "machine": machine(), "models": args.models, "seeds": args.seeds,
            "test_events": len(drift), "after_drift": int(drift.sum()), "batch": EvalConfig().batch_size,
            "previous_in_batch": previous_in_batch(split, EvalConfig().batch_size),
            "drift_users": len(np.unique(split.test.user[drift])), "rows": rows}
    write_json("stream-headroom", data)
    write_section("stream-headroom", "## sample · stream: where online updates can help\n\n" + section(data))


if __name__ == "__main__":
    main()
