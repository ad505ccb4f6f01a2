"""``igcore update`` on Beauty: a model trained without the log's last 1,000 events, then those events taken in.

The Beauty store (bench/.work/beauty.duckdb, from ``igcore dataset beauty``) loses its last ``--held`` events by
time; its interest snapshots are built and the pipeline trained on the rest (one epoch and no text stage: what
is timed is the update, whose work does not depend on how long the model trained). Then, on a fresh copy of
that store and checkpoint each time:

- end to end: ``.venv/bin/igcore update held.csv`` as a new process (start, imports, the import itself, the
  model's online state, its serving state and the touched users' snapshots), wall time;
- in the library: :func:`igcore.after_import.import_and_refresh` on the same file in this process, after one
  warm-up run, so that module imports are not counted; the collector is then frozen, as the dashboard server
  freezes it after its imports, so that no full collection over this process's modules lands in a run.

Medians over ``--repeats``; written to ``bench/results/update.json`` and the ``update`` section of
``docs/BENCHMARKS.md``.

    .venv/bin/python bench/update_bench.py [--held 1000] [--repeats 5] [--reuse]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from igcore.after_import import import_and_refresh  # noqa: E402
from igcore.benchio import WORK, machine, today, write_json, write_section  # noqa: E402
from igcore.devtools import REPO, bytecode_cache_on  # noqa: E402
from igcore.interests.config import InterestConfig  # noqa: E402
from igcore.interests.snapshots import build_snapshots  # noqa: E402
from igcore.pipeline.config import PipelineConfig  # noqa: E402
from igcore.pipeline.run import checkpoint_dir, train  # noqa: E402
from igcore.store import Store  # noqa: E402

TARGETS = {"end_to_end_s": 2.0, "library_s": 0.5}
COMMAND = ".venv/bin/python bench/update_bench.py"


def prepare(held: int) -> tuple[Path, Path]:
    """The trained store without its last ``held`` events, and those events as a CSV."""
    source = WORK / "beauty.duckdb"
    if not source.exists():
        raise SystemExit(f"{source} is missing: load it with `igcore dataset beauty --db {source}`")
    db, csv = WORK / "update_base.duckdb", WORK / "update_held.csv"
    shutil.copy(source, db)
    with Store(db) as store:
        store.con.execute("CREATE TEMP TABLE held AS SELECT * FROM events ORDER BY ts DESC, event_id DESC LIMIT ?",
                          [held])
        store.con.execute(f"COPY (SELECT user_id, item_id, event_type, ts AS timestamp FROM held "
                          f"ORDER BY ts, event_id) TO '{csv}' (HEADER)")
        store.con.execute("DELETE FROM events WHERE event_id IN (SELECT event_id FROM held)")
        build_snapshots(store, InterestConfig())
        train(store, PipelineConfig(epochs=1, use_text=False, device="cpu"))
    return db, csv


def fresh_copy(base: Path, name: str) -> Path:
    """The trained store and its checkpoint folder under a new name."""
    db = WORK / f"{name}.duckdb"
    cleanup(db)
    shutil.copy(base, db)
    shutil.copytree(checkpoint_dir(base), checkpoint_dir(db))
    return db


def cleanup(db: Path) -> None:
    for path in (db, Path(f"{db}.wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(checkpoint_dir(db), ignore_errors=True)


def run(held: int, repeats: int, reuse: bool) -> dict:
    base, csv = WORK / "update_base.duckdb", WORK / "update_held.csv"
    if not (reuse and base.exists() and csv.exists()):
        base, csv = prepare(held)
    ends, libs, lines = [], [], []
    try:
        for i in range(repeats):
            db = fresh_copy(base, "update_cli")
            t0 = time.perf_counter()
            done = subprocess.run([str(REPO / ".venv/bin/igcore"), "update", str(csv), "--db", str(db)],
                                  capture_output=True, text=True, check=True, cwd=REPO)
            ends.append(time.perf_counter() - t0)
            lines = done.stdout.splitlines()
            cleanup(db)
            db = fresh_copy(base, "update_lib")
            with Store(db) as store:
                t0 = time.perf_counter()
                import_and_refresh(store, csv)
                seconds = time.perf_counter() - t0
            cleanup(db)
            if i:  # the first in-process run imports modules and warms caches
                libs.append(seconds)
            else:  # then its objects go where the dashboard server puts its imports' (igcore.dashboard.serve)
                gc.freeze()
            print(f"update {i}: end to end {ends[-1]:.2f} s, library {seconds:.2f} s", flush=True)
    finally:
        cleanup(WORK / "update_cli.duckdb")
        cleanup(WORK / "update_lib.duckdb")
    return {"held": held, "repeats": repeats, "end_to_end_s": round(median(ends), 2),
            "end_to_end_max_s": round(max(ends), 2), "library_s": round(median(libs), 2),
            "library_max_s": round(max(libs), 2), "report": lines}


def section(data: dict) -> str:
    r = data["result"]
    return "\n".join([
        "## Update after an import",
        "",
        f"{data['date']} · {data['machine']} · `{COMMAND}` · Beauty without its last {r['held']:,} events by time "
        "(snapshots built, pipeline trained one epoch without the text stage), then `igcore update` with those "
        f"events on a fresh copy each time; medians of {r['repeats']} (the library's without the first run, after "
        "which the collector is frozen as the dashboard server freezes it after its imports); Python's "
        f"bytecode cache {data.get('bytecode_cache', 'not recorded')}.",
        "",
        "| measure | median | slowest | target |",
        "|---|---:|---:|---:|",
        f"| `igcore update`, process start to exit (import, online state, serving state, snapshots) | "
        f"{r['end_to_end_s']:.2f} s | {r['end_to_end_max_s']:.2f} s | ≤ {TARGETS['end_to_end_s']:.1f} s |",
        f"| the same in the library (`import_and_refresh`) | {r['library_s']:.2f} s | {r['library_max_s']:.2f} s | "
        f"≤ {TARGETS['library_s']:.1f} s |",
        "",
        "The command's report: " + " / ".join(f"`{line.strip()}`" for line in r["report"] if line.strip()),
    ])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--held", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--reuse", action="store_true", help="keep the trained store of an earlier run (same --held)")
    args = ap.parse_args()
    bytecode_cache_on()  # a normal install: `igcore update` reads its modules' cache, as a user's would
    data = {"date": today(), "machine": machine(), "targets": TARGETS, "bytecode_cache": "on",
            "result": run(args.held, args.repeats, args.reuse)}
    write_json("update", data)
    write_section("update", section(data))


if __name__ == "__main__":
    main()
