"""Interest graphs: planted-drift detection on synthetic logs, and snapshot speed on Amazon Beauty.

drift:  the bundled sample (data/sample, planted drift in drift_truth.csv) and freshly generated logs of other
        seeds go through the store and ``build_snapshots`` with the default InterestConfig; the stored change
        points are matched to the planted ones (same user, within 20 events; each planted change matched at
        most once; every other detection, users without planted drift included, is a false positive).
model:  the same logs, the pipeline trained on each (``igcore train`` with ``--set`` settings; by default the
        dashboard's interest slots, ``DASHBOARD_INTERESTS``), and change points detected from the model's slots
        (each event coded as the catalogue interest of its slot, through the same detector) scored the same way;
        an event's slot is the one that claims it (scores its item highest), beside it the one it was routed to
        and the raw routed slot index; and purity: of the slots holding at least 10% of a user's weight now, the
        share whose 10 best-scored items hold at least 7 of one planted category.
beauty: a copy of the Beauty store (bench/.work/beauty.duckdb, from ``igcore dataset beauty``) without its last
        1,000 events (by time): ``build_snapshots`` for every user, timed; the 1,000 events put back (new event
        ids, as an import gives them) and ``update_snapshots`` timed; then ``timeline`` of 1,000 random users
        (seed 0), each timed alone.

    .venv/bin/python bench/interests_bench.py [--part drift|model|beauty|all] [--seeds 8] [--set interests=4 ...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from igcore.benchio import WORK, machine, read_json, today, write_json, write_section
from igcore.config import load_config, parse_assignments
from igcore.dashboard.training import DASHBOARD_INTERESTS
from igcore.datasets import load_dataset
from igcore.events import load_interactions
from igcore.interests.changes import detect_changes, evaluate_detections
from igcore.interests.config import InterestConfig
from igcore.interests.events import from_columns
from igcore.interests.model_graph import event_codes, majority
from igcore.interests.snapshots import build_snapshots, timeline, update_snapshots
from igcore.paths import SAMPLE_DIR
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.run import train
from igcore.store import Store
from igcore.synth import SynthConfig, generate, write

TOLERANCE = 20
DRIFT_CODE = "claimed"  # model drift: each event's slot as the catalogue interest it stood for (see below)
CODINGS = {"label": "routed"}  # the routed coding's name in rows written before the claimed one
HELD_OUT = 1000
QUERIES = 1000
TARGETS = {"f1": 0.8, "build_s": 300.0, "update_s": 1.0, "timeline_p99_ms": 50.0}


def drift_on(folder: Path, label: str) -> dict:
    """Build snapshots of one synthetic log in a temporary store and score the stored change points."""
    with tempfile.TemporaryDirectory(prefix="igcore-interests-") as tmp:
        root = Path(tmp)
        shutil.copytree(folder, root / "sample")
        with Store(root / "store.duckdb") as store:
            load_dataset(store, "sample", root)
            t0 = time.perf_counter()
            report = build_snapshots(store, InterestConfig())
            build_s = time.perf_counter() - t0
            found = store.df("SELECT user_id, event_index FROM interest_changes")
    truth = pd.read_csv(folder / "drift_truth.csv")
    score = evaluate_detections(found, truth, TOLERANCE)
    print(f"{label}: P {score['precision']:.3f} R {score['recall']:.3f} F1 {score['f1']:.3f} "
          f"median |lag| {score['median_abs_lag']:.0f} events; build {build_s:.1f} s", flush=True)
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in score.items()},
            "planted": len(truth), "detected": len(found), "users": report.users, "events": report.new_events,
            "build_s": round(build_s, 2)}


def run_drift(seeds: list[int]) -> dict:
    out = {"sample": drift_on(SAMPLE_DIR, "sample (seed 7)")}
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="igcore-synth-") as tmp:
            write(generate(SynthConfig(seed=seed)), tmp)
            out[f"synth-seed{seed}"] = drift_on(Path(tmp), f"synth seed {seed}")
    return out


def model_interests_on(folder: Path, label: str, settings: dict[str, str]) -> dict:
    """Train the pipeline on one synthetic log; score change points from its slots and the slots' purity."""
    with tempfile.TemporaryDirectory(prefix="igcore-model-interests-") as tmp:
        root = Path(tmp)
        shutil.copytree(folder, root / "sample")
        with Store(root / "store.duckdb") as store:
            load_dataset(store, "sample", root)
            config = load_config(PipelineConfig, None, settings)
            t0 = time.perf_counter()
            model, _ = train(store, config)
            train_s = time.perf_counter() - t0
            data = load_interactions(store)
            category = dict(store.rows("SELECT item_id, category FROM items"))
    users = list(range(model.n_users))
    tracks = model.interest_tracks(users)
    table = model.item_vectors()
    item_category = np.array([category.get(i) for i in data.item_ids], dtype=object)
    users_of = np.repeat(data.user_ids, [len(t) for t in tracks]).astype(str)
    times = np.concatenate([t.times for t in tracks])
    log = from_columns(users_of, np.concatenate([data.item_ids[t.items] for t in tracks]),
                       np.full(len(times), "view", dtype=object), times, None, InterestConfig())
    order = np.lexsort((np.arange(len(times)), times, users_of))  # the order from_columns puts events in
    codes = pd.Index(sorted(set(category.values()) - {None})).get_indexer(item_category)
    truth = pd.read_csv(folder / "drift_truth.csv")
    scores = {}
    for name, per_event in (("slot", [t.event_slots() for t in tracks]),
                            ("routed", [event_codes(t, table, codes, t.event_slots()) for t in tracks]),
                            ("claimed", [event_codes(t, table, codes) for t in tracks])):
        found = detect_changes(log, np.concatenate(per_event)[order], InterestConfig())
        found = pd.DataFrame({"user_id": log.user_ids[found["user"].to_numpy(np.int64)],
                              "event_index": found["event_index"].to_numpy(np.int64)})
        scores[name] = {**evaluate_detections(found, truth, TOLERANCE), "detected": len(found)}
    score = scores[DRIFT_CODE]
    held, pure, distinct = 0, 0, 0
    for t in tracks:  # slots holding >= 10% now; pure: >= 7 of their 10 best-scored items in one category
        top = t.top_items(len(t) - 1, table, 10)[t.weights[-1] >= 0.1]
        code, share = majority(top, codes)
        held, pure, distinct = held + len(top), pure + int((share >= 0.7).sum()), distinct + len(set(code.tolist()))
    for name, r in scores.items():
        print(f"{label} (model, {name} codes): P {r['precision']:.3f} R {r['recall']:.3f} F1 {r['f1']:.3f}; "
              f"purity {pure}/{held}; train {train_s:.0f} s", flush=True)
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in score.items()},
            "by_code": {name: {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                        for name, r in scores.items()}, "code": DRIFT_CODE,
            "planted": len(truth), "slots_held": held, "slots_pure": pure, "slots_distinct": distinct,
            "purity": round(pure / max(held, 1), 4), "train_s": round(train_s, 1), "settings": settings}


def run_model(seeds: list[int], settings: dict[str, str]) -> dict:
    settings = {"interests": str(DASHBOARD_INTERESTS), **settings}  # the dashboard's slots unless set; recorded
    out = {"sample": model_interests_on(SAMPLE_DIR, "sample (seed 7)", settings)}
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="igcore-synth-") as tmp:
            write(generate(SynthConfig(seed=seed)), tmp)
            out[f"synth-seed{seed}"] = model_interests_on(Path(tmp), f"synth seed {seed}", settings)
    return out


def run_beauty() -> dict:
    source = WORK / "beauty.duckdb"
    if not source.exists():
        raise SystemExit(f"{source} is missing: load it with `igcore dataset beauty --db {source}`")
    db = WORK / "interests_beauty.duckdb"
    shutil.copy(source, db)
    try:
        with Store(db) as store:
            store.con.execute("CREATE TEMP TABLE held AS SELECT * FROM events ORDER BY ts DESC, event_id DESC "
                              "LIMIT ?", [HELD_OUT])
            store.con.execute("DELETE FROM events WHERE event_id IN (SELECT event_id FROM held)")
            t0 = time.perf_counter()
            built = build_snapshots(store, InterestConfig())
            build_s = time.perf_counter() - t0
            print(f"beauty build: {built.summary()}", flush=True)
            store.con.execute("INSERT INTO events SELECT * REPLACE (event_id + (SELECT max(event_id) FROM events) "
                              "AS event_id) FROM held")
            t0 = time.perf_counter()
            updated = update_snapshots(store)
            update_s = time.perf_counter() - t0
            print(f"beauty update: {updated.summary()}", flush=True)
            users = [r[0] for r in store.rows("SELECT DISTINCT user_id FROM interest_snapshots ORDER BY 1")]
            pick = np.random.default_rng(0).choice(len(users), QUERIES, replace=False)
            times, rows = [], 0
            for i in pick:
                t0 = time.perf_counter()
                found = timeline(store, users[i])
                times.append((time.perf_counter() - t0) * 1000)
                rows += len(found.snapshots)
            snapshots = int(store.value("SELECT count(*) FROM interest_snapshots"))
            nodes = store.rows("SELECT kind, count(*) FROM interest_nodes GROUP BY 1")
    finally:
        db.unlink(missing_ok=True)
        Path(str(db) + ".wal").unlink(missing_ok=True)
    p50, p99 = statistics.median(times), float(np.percentile(times, 99))
    print(f"beauty: build {build_s:.1f} s, update of {updated.new_events} events {update_s * 1000:.0f} ms "
          f"({updated.users} users), timeline p50 {p50:.1f} ms p99 {p99:.1f} ms", flush=True)
    return {"events": built.new_events + updated.new_events, "users": built.users, "snapshots": snapshots,
            "nodes": dict(nodes), "build_s": round(build_s, 2), "update_events": updated.new_events,
            "update_users": updated.users, "update_s": round(update_s, 3), "timeline_queries": QUERIES,
            "timeline_snapshots_read": rows, "timeline_p50_ms": round(p50, 2), "timeline_p99_ms": round(p99, 2)}


def section(data: dict) -> str:
    lines = [f"## Interest graphs\n\n{data.get('date', '')} · {data.get('machine', '')} · "
             "`bench/interests_bench.py` (default `InterestConfig`: category interests on the synthetic logs, "
             "k-means clusters of attribute tokens on Beauty; snapshots every 5 events)\n"]
    drift = data.get("drift")
    if drift:
        lines += ["Planted interest drift found by the stored change points: a detection matches a planted change "
                  f"of the same user within {TOLERANCE} events (target F1 >= {TARGETS['f1']}).\n",
                  "| log | planted | detected | precision | recall | F1 | median lag (events) | build s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in drift.items():
            lines.append(f"| {name} | {r['planted']} | {r['detected']} | {r['precision']:.3f} | {r['recall']:.3f} | "
                         f"**{r['f1']:.3f}** | {r['median_abs_lag']:.0f} | {r['build_s']:.1f} |")
        lines.append("")
    model = data.get("model")
    if model:
        lines += ["The trained model's own interests (`--part model`: the pipeline trained as `igcore train` does, "
                  "settings as each row says): change points found by the same detector over each event's slot, "
                  "coded as the catalogue interest that slot stood for after the event (most of its 10 best-scored "
                  "items), matched as above. An event's slot is the one that claims it (`claimed`: the slot whose "
                  "vector scores the event's item highest, the rule that names a recommendation's slot) or the one "
                  "its routing gave most (`routed`, the coding of rows before 2026-12-06's `claimed` rows); the raw "
                  "routed slot index as a code beside them (codings chosen on synth-seed5, a log no other table "
                  "reports); purity: of the slots holding at least 10% of a "
                  "user's weight now, the share whose 10 best-scored items hold at least 7 of one planted category "
                  "(targets: F1 >= 0.8, purity >= 0.8); distinct: the catalogue interests those slots stand for, "
                  "summed over users (below the slot count when two slots of a user hold the same interest).\n",
                  "| log | settings | coding | planted | detected | precision | recall | F1 | F1 (routed) | "
                  "F1 (raw slot index) | slots >= 10% | distinct | purity | train s |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in model.items():
            settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items()) or "interests=4"  # rows before
            # the settings were recorded ran with 4 slots
            routed = r["by_code"].get("routed", r["by_code"].get("label"))  # named "label" before "claimed"
            lines.append(f"| {name} | {settings} | {CODINGS.get(r['code'], r['code'])} | {r['planted']} | "
                         f"{r['detected']} | {r['precision']:.3f} | {r['recall']:.3f} | **{r['f1']:.3f}** | "
                         f"{routed['f1']:.3f} | {r['by_code']['slot']['f1']:.3f} | "
                         f"{r['slots_held']} | {r.get('slots_distinct', '–')} | **{r['purity']:.3f}** | "
                         f"{r['train_s']:.0f} |")
        lines.append("")
    beauty = data.get("beauty")
    if beauty:
        lines += [f"Amazon Beauty ({beauty['events']:,} events, {beauty['users']:,} users, "
                  f"{beauty['snapshots']:,} snapshots):\n",
                  "| figure | measured | target |", "|---|---:|---:|",
                  f"| build snapshots for all users | {beauty['build_s']:.1f} s | <= {TARGETS['build_s']:.0f} s |",
                  f"| incremental update, {beauty['update_events']:,} new events ({beauty['update_users']} users) | "
                  f"{beauty['update_s'] * 1000:.0f} ms | <= {TARGETS['update_s'] * 1000:.0f} ms |",
                  f"| one user's timeline, p50 of {beauty['timeline_queries']:,} | {beauty['timeline_p50_ms']:.1f} ms "
                  "| |",
                  f"| one user's timeline, p99 | {beauty['timeline_p99_ms']:.1f} ms | <= "
                  f"{TARGETS['timeline_p99_ms']:.0f} ms |"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["drift", "model", "beauty", "all"], default="all")
    ap.add_argument("--seeds", type=int, nargs="*", default=[8], help="other synth seeds for the drift check")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="pipeline settings (model)")
    args = ap.parse_args()
    data: dict = {"date": today(), "machine": machine(), "targets": TARGETS}
    stamp = {"date": data["date"], "machine": data["machine"]}
    if args.part in ("drift", "all"):
        data["drift"] = {name: {**r, **stamp} for name, r in run_drift(args.seeds).items()}
    if args.part in ("model", "all"):
        settings = dict(parse_assignments(args.set))
        suffix = f" [{','.join(args.set)}]" if args.set else ""  # rows of other settings stay beside these
        data["model"] = {**(read_json("interests") or {}).get("model", {}),
                         **{name + suffix: {**r, **stamp} for name, r in run_model(args.seeds, settings).items()}}
    if args.part in ("beauty", "all"):
        data["beauty"] = {**run_beauty(), **stamp}
    write_json("interests", data, merge=True)
    write_section("interests", section(read_json("interests") or data))


if __name__ == "__main__":
    main()
