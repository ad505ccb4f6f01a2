"""How time and memory grow with the log: the generated shop log at several sizes, end to end.

For each size (events; about a tenth as many users and a fiftieth as many items) the log is generated once
(:mod:`igcore.synthbulk`, cached under bench/.work/scale/) and each stage runs alone in a child process, which
reports its wall time and its own peak resident memory:

- ingest: the catalogue and the events CSV through the importer into a fresh store (every check kept), the
  median of ``--repeats`` imports;
- encode: the catalogue's text vectors (MiniLM), cached in the store (a second run reads the cache);
- snapshots: every user's interest snapshots (the rule-based interests, built from scratch);
- model: the pipeline trained on the events before the log's last 48 hours within ``--budget`` seconds, the 24
  hours before the last validating (early stopping keeps the best epoch); then the last 24 hours streamed
  through ``update`` in batches of 1,000 (throughput, no gradient steps; the median of ``--repeats`` streams,
  each from the trained state); one user's top-10 with the model loaded (latency); NDCG@10 on the last 24
  hours' events (temporal split, nothing excluded; the model streams the validation day in first) against
  ItemKNN fitted on every event before them (measured first and let go, its peak memory reported apart);
- update: the model stage's stream alone, on the pipeline trained for a few seconds (an update's cost does not
  depend on the weights), so that every size's update throughput comes from one run;
- explorer: for ``--users`` users of the store, the explorer's reads of one user (the stored snapshot timeline,
  the events until the latest snapshot), and apart from them the interest graph at that snapshot computed and
  drawn (latency).

Throughput at each size is compared with the 1M row of the same run (the issue's linear-growth check), by wall
time and by CPU time (the stage process's own, every thread): on a shared machine other processes change the wall
time of a long stage, while its CPU time stays the work it did.

    OMP_NUM_THREADS=1 .venv/bin/python bench/scale.py [--sizes 150000 1000000 ...] [--budget 1800] [--stages ...]
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import WORK, locked, machine, read_json, today, write_json, write_section  # noqa: E402

STAGES = ("ingest", "encode", "snapshots", "model", "update", "explorer")
BATCH = 1000
# The model stage's settings. On the large logs, each position's full softmax over the catalogue and the graph
# stage's pass over the whole user-item graph in every training batch leave the budget a sliver of one epoch
# (docs/BENCHMARKS.md, "Scale"); sampled negatives and no graph stage train on every event within it.
MODEL_SETTINGS = ("negatives=1024", "use_graph=false")
UPDATE_BUDGET = 5.0  # training seconds of the model the update stage streams through


def timed(work):
    """(``work()``, wall seconds, CPU seconds of this process, all threads)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = work()
    return out, time.perf_counter() - t0, time.process_time() - c0


def log_dir(size: int) -> Path:
    return WORK / "scale" / str(size)


def drop(db: Path) -> None:
    """Delete a store and its write-ahead log."""
    for f in (db, db.with_suffix(".duckdb.wal")):
        f.unlink(missing_ok=True)


def generate(size: int, seed: int) -> dict:
    """The size's CSVs, generated once."""
    from igcore.synth import SynthConfig
    from igcore.synthbulk import generate_bulk, write_bulk

    folder = log_dir(size)
    if (folder / "events.csv").exists():
        return {"cached": True}
    t0 = time.perf_counter()
    config = SynthConfig(seed=seed, n_users=max(1000, size // 10), n_items=max(1000, size // 50), n_events=size)
    write_bulk(generate_bulk(config), folder)
    return {"seconds": round(time.perf_counter() - t0, 2)}


def stage_ingest(size: int, args: argparse.Namespace) -> dict:
    """The import into a fresh store ``--repeats`` times; the run of median wall time (a short import is at the
    mercy of one noisy second on a shared machine)."""
    from igcore.ingest import import_events, import_items
    from igcore.store import Store

    # The first ingest of a size makes the store the later stages use; the others import into a scratch store, so
    # a rerun measures the same work without dropping the store's cached item vectors.
    db = log_dir(size) / "store.duckdb"
    runs = []
    for _ in range(args.repeats):
        target = db if not db.exists() else db.with_name("scratch.duckdb")
        drop(target)

        def work(target=target):
            with Store(target) as store:
                import_items(store, log_dir(size) / "items.csv")
                return import_events(store, log_dir(size) / "events.csv")

        runs.append(timed(work))
        if target != db:
            drop(target)
    report, seconds, cpu = sorted(runs, key=lambda run: run[1])[len(runs) // 2]
    return {"seconds": round(seconds, 2), "cpu_s": round(cpu, 2), "events": report.rows_loaded,
            "events_per_s": round(report.rows_loaded / seconds), "events_per_cpu_s": round(report.rows_loaded / cpu),
            "runs_s": [round(run[1], 2) for run in runs]}


def stage_encode(size: int, args: argparse.Namespace) -> dict:
    from igcore.encode.side import load_side_info
    from igcore.store import Store

    t0 = time.perf_counter()
    with Store(log_dir(size) / "store.duckdb") as store:
        side = load_side_info(store, "cpu")
    return {"seconds": round(time.perf_counter() - t0, 2), "items": len(side.text)}


def stage_snapshots(size: int, args: argparse.Namespace) -> dict:
    from igcore.interests.snapshots import build_snapshots
    from igcore.store import Store

    with Store(log_dir(size) / "store.duckdb") as store:
        report, _, cpu = timed(lambda: build_snapshots(store))
    return {"seconds": round(report.seconds, 2), "cpu_s": round(cpu, 2), "events": report.new_events,
            "users": report.users, "snapshots": report.snapshots,
            "events_per_s": round(report.new_events / report.seconds), "events_per_cpu_s": round(report.new_events / cpu)}


def _split(size: int, validate: bool) -> tuple[float, object]:
    """(load seconds, the temporal split) of the log: the last 24 hours test; with ``validate``, the 24 hours
    before them validate and the days before those train, else every event before the last day trains."""
    from igcore.evaluate.splits import Split
    from igcore.events import load_interactions
    from igcore.store import Store

    t0 = time.perf_counter()
    with Store(log_dir(size) / "store.duckdb", read_only=True) as store:
        data = load_interactions(store)
    load_s = time.perf_counter() - t0
    cutoff = int(data.ts.max()) - 86400 + 1  # the log's last 24 hours
    held = cutoff - 86400 if validate else cutoff  # and the day before them, validating
    train, valid, test = (data.subset((data.ts >= lo) & (data.ts < hi))
                          for lo, hi in ((data.ts.min(), held), (held, cutoff), (cutoff, data.ts.max() + 1)))
    del data
    return load_s, Split("last-day", train, valid, test, {"cutoff_valid": held, "cutoff_test": cutoff})


def _trained(size: int, args: argparse.Namespace, budget: float, validate: bool = False) -> tuple:
    """The pipeline (``--set`` settings) trained within ``budget`` seconds on the training part of the log's
    :func:`_split`, ready to serve; (model, training events, the last day, the split, load s, training s). With
    ``validate``, each validation-day user's first event (as the last day is measured) scores every epoch and
    training keeps the best (the library's early stopping); without, nothing is validated."""
    import numpy as np

    from igcore.config import load_config, parse_assignments
    from igcore.encode.side import side_info
    from igcore.evaluate.protocols import first_per_user
    from igcore.pipeline.config import PipelineConfig
    from igcore.pipeline.model import IgcoreRecommender

    load_s, split = _split(size, validate)
    settings = {**parse_assignments(args.set), "device": "cpu", "max_train_s": budget}
    config = load_config(PipelineConfig, overrides=settings if validate else {**settings, "eval_every": 10**6})
    model = IgcoreRecommender(config, side=side_info(log_dir(size) / "store.duckdb", "cpu"))
    t0 = time.perf_counter()
    model.fit(split.train, first_per_user(split.valid) if validate else None)
    train_s = time.perf_counter() - t0
    model.score(np.array([0]))  # ready to serve: item tables and graph vectors computed, as a loaded model has them
    return model, split.train, split.test, split, load_s, train_s


def _streamed(model, test, repeats: int) -> tuple[object, dict]:
    """The last day through ``update`` in batches of ``BATCH``, ``repeats`` times, each on a fork of the model's
    online state (let go before the next, so that forks do not add up in the stage's peak memory; made before
    the clock starts, as copying the state is the bench's doing, not an update's): the last stream's model and
    the rate of the median stream (a small log's last day streams in a fraction of a second)."""
    import numpy as np

    def replay(stream):
        for start in range(0, len(test), BATCH):
            stream.update(test.subset(np.arange(start, min(start + BATCH, len(test)))))
        stream.score(np.array([0]))  # the last refresh is paid for, not left pending
        return stream

    runs, stream = [], None
    for _ in range(repeats):
        stream = None  # the last fork goes before the next is made
        stream = model.fork(np.unique(test.user))
        _, seconds, cpu = timed(functools.partial(replay, stream))
        runs.append((seconds, cpu))
    seconds, cpu = sorted(runs)[len(runs) // 2]
    starts = range(0, len(test), BATCH)
    moved = sum(len(np.unique(test.user[lo:lo + BATCH])) + len(np.unique(test.item[lo:lo + BATCH])) for lo in starts)
    return stream, {"test_events": len(test), "nodes_per_batch": round(moved / len(starts), 1),
                    "update_events_per_s": round(len(test) / seconds), "update_nodes_per_s": round(moved / seconds),
                    "update_events_per_cpu_s": round(len(test) / cpu), "update_runs_s": [round(r[0], 3) for r in runs]}


def _itemknn(size: int) -> tuple[float, int]:
    """ItemKNN fitted on every event before the log's last 24 hours: (NDCG@10 of the last day as the model stage
    measures it, this process's peak MB so far). Run before the model is built and let go after, so that the
    comparator's memory does not count in the model's."""
    from igcore.evaluate.baselines import ItemKNN
    from igcore.evaluate.protocols import EvalConfig, measure

    _, split = _split(size, validate=False)
    knn = ItemKNN()
    knn.fit(split.train)
    variants = measure(knn, split, EvalConfig("temporal", exclude_seen=(False,)))["variants"]
    return next(iter(variants.values()))["ndcg@10"], peak_mb()


def reset_peak() -> None:
    """Start this process's peak resident memory (``VmHWM``) afresh from its current size (Linux only)."""
    refs = Path("/proc/self/clear_refs")
    if refs.exists():
        refs.write_text("5")


def stage_model(size: int, args: argparse.Namespace) -> dict:
    import gc

    import numpy as np

    from igcore.evaluate.protocols import EvalConfig, measure

    knn_ndcg, knn_peak = _itemknn(size)
    gc.collect()
    reset_peak()  # the stage's peak is the model's from here; ItemKNN's is reported beside it
    model, train, test, split, load_s, train_s = _trained(size, args, args.budget, validate=True)
    stream, rates = _streamed(model, test, args.repeats)
    latency = []
    for u in np.unique(test.user)[:200].tolist():
        t1 = time.perf_counter()
        stream.recommend(u, 10)
        latency.append(time.perf_counter() - t1)
    config = EvalConfig("temporal", exclude_seen=(False,))
    ours = measure(model, split, config)["variants"]  # streams the validation day in, then asks the last day
    head = next(iter(ours))
    last = model.log[-1] if model.log else {}
    return {"load_s": round(load_s, 2), "train_s": round(train_s, 1), "epochs": len(model.log),
            "settings": " ".join(args.set), "trained_positions": sum(e["positions"] for e in model.log),
            "best_epoch": _best_epoch(model.log), "valid_events": len(split.valid),
            "epoch_share": round(last["positions"] / last["epoch_positions"], 4) if last.get("cut") else None,
            "train_events": len(train), **rates,
            "top10_p99_ms": round(float(np.percentile(np.asarray(latency) * 1000, 99)), 2),
            "ndcg@10": round(ours[head]["ndcg@10"], 4), "itemknn_ndcg@10": round(knn_ndcg, 4),
            "itemknn_peak_mb": knn_peak}


def _best_epoch(log: list[dict]) -> int | None:
    """The epoch whose weights training kept (the best validation score), or None when nothing validated."""
    scored = [e for e in log if "valid_ndcg@10" in e]
    return max(scored, key=lambda e: e["valid_ndcg@10"])["epoch"] if scored else None


def stage_update(size: int, args: argparse.Namespace) -> dict:
    """The model stage's stream alone, on the pipeline trained for ``UPDATE_BUDGET`` seconds: what an update
    costs depends on the network's shape and the events, not on its weights, so the throughput of every size
    comes from one short run instead of a training budget per size."""
    model, train, test, _, _, train_s = _trained(size, args, UPDATE_BUDGET)
    _, rates = _streamed(model, test, args.repeats)
    return {"settings": " ".join(args.set), "train_s": round(train_s, 1), "train_events": len(train), **rates}


def stage_explorer(size: int, args: argparse.Namespace) -> dict:
    """Per user: the explorer's reads (the stored snapshot timeline and the events until its latest snapshot),
    then the interest graph at that snapshot computed and drawn (layout and HTML), timed apart. The store is
    opened as the dashboard's server opens it: every read opens and closes it, the server keeps the database
    open between reads (igcore.storekeep), and a session's start prepares the store (warming its reads)."""
    import numpy as np

    from igcore.dashboard.explorer import active_users, events_until, graph_view, load_timeline
    from igcore.dashboard.overview import prepare_store
    from igcore.dashboard.serve import KEEP_OPEN_S
    from igcore.store import Store

    db = log_dir(size) / "store.duckdb"
    Store.one_writer_per_process, Store.keep_open_s = True, KEEP_OPEN_S
    prepare_store(db)
    users = active_users(db, args.users)["user_id"].tolist()
    reads, views = [], []
    for user in users:
        t0 = time.perf_counter()
        at = load_timeline(db, user).snapshots["snapshot_at"].iloc[-1]
        events_until(db, user, at)
        t1 = time.perf_counter()
        graph_view(db, user, at)
        reads.append(t1 - t0)
        views.append(time.perf_counter() - t1)

    def pct(xs: list[float], q: float) -> float:
        return round(float(np.percentile(np.asarray(xs) * 1000, q)), 1)

    return {"users": len(users), "reads_p50_ms": pct(reads, 50), "reads_p99_ms": pct(reads, 99),
            "graph_p50_ms": pct(views, 50), "graph_p99_ms": pct(views, 99)}


RUN = {"ingest": stage_ingest, "encode": stage_encode, "snapshots": stage_snapshots, "model": stage_model,
       "update": stage_update, "explorer": stage_explorer}


def in_child(stage: str, size: int, args: argparse.Namespace) -> dict:
    """Run one stage in a fresh interpreter; its result with its wall time and peak memory."""
    cmd = [sys.executable, __file__, "--child", stage, "--sizes", str(size), "--budget", str(args.budget),
           "--set", *args.set,
           "--users", str(args.users), "--repeats", str(args.repeats)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{stage} at {size:,} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall_s": round(time.perf_counter() - t0, 2)}


def peak_mb() -> int:
    """This process's peak resident memory. Linux's ``ru_maxrss`` carries the forking process's peak across
    ``exec`` (a child of a parent that generated a large log would report the parent's); the memory map's own
    high-water mark (``VmHWM``) starts afresh with the new program."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def child(stage: str, size: int, args: argparse.Namespace) -> None:
    out = RUN[stage](size, args)
    out["peak_mb"] = peak_mb()
    print(json.dumps(out))


def _cut(row: dict) -> str:
    """How much of its last epoch a model trained when the budget ended it, and the epoch it kept."""
    share, best = row.get("epoch_share"), row.get("best_epoch")
    cut = f", the last cut at {share:.1%} of its positions" if share is not None else ""
    return cut + (f", epoch {best} kept by the validation day" if best is not None else "")


def _knn_peak(row: dict) -> str:
    """ItemKNN's own peak memory, when the row measured it apart from the model's."""
    return f" (fitted first, its peak {row['itemknn_peak_mb']:,} MB)" if "itemknn_peak_mb" in row else ""


def _streams(row: dict) -> str:
    """How many streams of the last day the update rate is the median of, and how many memory nodes a batch
    moved on average (its distinct users and items: each takes one GRU step, and each user one history append,
    so a batch's cost follows them rather than its event count)."""
    runs, nodes = row.get("update_runs_s"), row.get("nodes_per_batch")
    moved = f"; {nodes:,.0f} users and items moved per batch, {row['update_nodes_per_s']:,} per s" if nodes else ""
    return (f" (median of {len(runs)} streams)" if runs else "") + moved


def section(data: dict) -> str:
    sizes = sorted(data["sizes"], key=int)
    lines = ["## Scale", "", f"{data['machine']} · `bench/scale.py --sizes ... --stages ...`: the generated log at "
             "each size, each stage alone in a child process (wall time and its own peak memory); throughput "
             "relative to the 1M row of the same run (a rerun of a stage replaces its row), by wall time and by the "
             "stage process's CPU time (all threads; other processes on a shared machine change the first, hardly "
             "the second).", "",
             "| events | stage | seconds | CPU s | throughput | vs 1M | vs 1M, CPU | peak MB | notes | run |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---|---|"]
    base = data["sizes"].get("1000000", {})
    rates = {"ingest": "events_per_s", "snapshots": "events_per_s", "model": "update_events_per_s",
             "update": "update_events_per_s"}
    cpu_rates = {"ingest": "events_per_cpu_s", "snapshots": "events_per_cpu_s", "model": "update_events_per_cpu_s",
                 "update": "update_events_per_cpu_s"}
    notes = {"model": lambda r: (f"`{r.get('settings') or 'defaults'}`: trained {r['train_s']:.0f} s "
                                 f"({r['epochs']} epoch{'s' * (r['epochs'] != 1)}{_cut(r)}); update in batches of "
                                 f"{BATCH:,}{_streams(r)}; top-10 p99 {r['top10_p99_ms']} ms; last-day NDCG@10 "
                                 f"{r['ndcg@10']:.4f}, ItemKNN {r['itemknn_ndcg@10']:.4f}{_knn_peak(r)}"),
             "explorer": lambda r: (f"{r['users']} users; reads p50 {r['reads_p50_ms']} ms, p99 {r['reads_p99_ms']} ms; "
                                    f"graph computed and drawn p50 {r['graph_p50_ms']} ms, p99 {r['graph_p99_ms']} ms"),
             "update": lambda r: (f"`{r.get('settings') or 'defaults'}`, trained {r['train_s']:.0f} s; the last day "
                                  f"({r['test_events']:,} events) in batches of {BATCH:,}{_streams(r)}"),
             "encode": lambda r: f"{r['items']:,} item texts",
             "ingest": lambda r: (f"median of {len(r['runs_s'])} imports: "
                                  f"{', '.join(f'{x:.1f}' for x in r['runs_s'])} s") if "runs_s" in r else "",
             "snapshots": lambda r: f"{r['snapshots']:,} snapshots of {r['users']:,} users"}
    for size in sizes:
        row = data["sizes"][size]
        for stage in (s for s in STAGES if s in row):
            r = row[stage]
            same_run = base.get(stage, {}).get("run") == r.get("run")

            def versus(key: str | None, r=r, same_run=same_run, stage=stage) -> str:
                rate, ref = r.get(key or ""), base.get(stage, {}).get(key or "") if same_run else None
                return f"{rate / ref:.2f}x" if rate and ref else "–"

            rate = r.get(rates.get(stage, ""))
            cpu = f"{r['cpu_s']:,.1f}" if "cpu_s" in r else "–"
            lines.append(f"| {int(size):,} | {stage} | {r.get('seconds', r['wall_s']):,.1f} | {cpu} | "
                         f"{f'{rate:,} events/s' if rate else '–'} | {versus(rates.get(stage))} | "
                         f"{versus(cpu_rates.get(stage))} | {r['peak_mb']:,} | {notes.get(stage, lambda r: '')(r)} | "
                         f"{r.get('run', 'earlier')} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[150_000, 1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument("--budget", type=float, default=1800.0, help="training seconds of the model stage")
    ap.add_argument("--users", type=int, default=50, help="users whose explorer queries are timed")
    ap.add_argument("--set", nargs="*", default=list(MODEL_SETTINGS), metavar="KEY=VALUE",
                    help="model settings of the model stage (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="imports, and streams of the last day, per size (the median is reported)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.sizes[0], args)
        return
    command = "bench/scale.py " + " ".join(sys.argv[1:])
    run = f"{today()} {time.strftime('%H:%M')}"  # rows of one run compare with each other
    for size in args.sizes:
        record(size, "generate", generate(size, args.seed), command)
        for stage in args.stages:
            result = {**in_child(stage, size, args), "run": run, "command": command}
            print(size, stage, result, flush=True)
            record(size, stage, result, command)


def record(size: int, stage: str, result: dict, command: str) -> None:
    """Put one stage's row into the results and the table, read again under a lock at the time of writing, so
    that a run of other sizes or stages going on at the same time keeps its rows."""
    with locked("scale"):
        data = read_json("scale") or {"sizes": {}}
        data["sizes"].setdefault(str(size), {})[stage] = result
        data.update({"date": today(), "machine": machine(), "command": command})
        write_json("scale", data)
        write_section("scale", section(data))


if __name__ == "__main__":
    main()
