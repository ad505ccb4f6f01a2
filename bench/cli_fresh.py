"""From a fresh clone to recommendations on the command line: the README's set-up, then ``igcore sample``,
``igcore train`` and ``igcore recommend USER --explain``, each step timed.

The set-up is the README's first command without its last step (starting the dashboard). Then two paths, each
on its own fresh store made by ``igcore sample``, so each pays for encoding the item texts as a new user does:
two epochs (what the dashboard's Pipeline page trains by default, and the quick path the README shows), and the
library's defaults (up to 200 epochs, early stopping on each user's last event).

The whole sequence runs ``--repeats`` times, each from a new clone; the table gives each step's median and every
run's totals (the set-up's pip install varies most between runs: it depends on the package mirrors).

    .venv/bin/python bench/cli_fresh.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from igcore.benchio import WORK, machine, today, write_json, write_section  # noqa: E402
from igcore.devtools import REPO, quick_start_commands  # noqa: E402
from igcore.store import Store  # noqa: E402

TARGET_S = 180.0
APP_STEP = " && .venv/bin/igcore app"


def run_steps() -> dict:
    """One fresh clone: the set-up, then each path on its own fresh store; seconds per step and totals."""
    setup = quick_start_commands()[0]
    assert setup.endswith(APP_STEP), setup
    setup = setup.removesuffix(APP_STEP)
    marks: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="igcore-cli-") as tmp, open(WORK / "cli_fresh.log", "a") as log:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)

        def step(name: str, command: str, store: str = "") -> None:
            log.write(f"$ {command}\n")
            log.flush()
            env = {**os.environ, "HF_HUB_OFFLINE": "1"} | ({"IGCORE_DB": str(clone / "data" / store)} if store else {})
            t0 = time.perf_counter()
            subprocess.run(["bash", "-c", command], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                           check=True)
            marks[name] = round(time.perf_counter() - t0, 1)
            print(f"{name}: {marks[name]:.1f} s", flush=True)

        step("setup_s", setup)
        for path, train_args in (("quick", " --set epochs=2"), ("default", "")):
            store = f"{path}.duckdb"
            step(f"sample_{path}_s", ".venv/bin/igcore sample", store)
            with Store(clone / "data" / store, read_only=True) as db:
                user = db.value("SELECT user_id FROM events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
            step(f"train_{path}_s", ".venv/bin/igcore train" + train_args, store)
            step(f"recommend_{path}_s", f".venv/bin/igcore recommend {user} --explain", store)
            marks[f"{path}_commands_s"] = round(sum(marks[f"{s}_{path}_s"] for s in ("sample", "train",
                                                                                   "recommend")), 1)
            marks[f"{path}_total_s"] = round(marks["setup_s"] + marks[f"{path}_commands_s"], 1)
    return marks


def section(data: dict) -> str:
    m, runs = data["steps"], data["runs"]
    every = lambda key: ", ".join(f"{r[key]:.0f}" for r in runs)  # noqa: E731
    rows = [("README set-up (venv + pip install, as the first command)", m["setup_s"], "", every("setup_s"))]
    for path, train, what in (("quick", "`igcore train --set epochs=2` (the dashboard's default)", "2 epochs"),
                              ("default", "`igcore train` (library defaults: early stopping)", "library defaults")):
        rows += [("`igcore sample` (a fresh store)", m[f"sample_{path}_s"], "", ""),
                 (train, m[f"train_{path}_s"], "", every(f"train_{path}_s")),
                 ("`igcore recommend USER --explain`", m[f"recommend_{path}_s"], "", ""),
                 (f"sample, train, recommend after the set-up, {what}", m[f"{path}_commands_s"], "",
                  every(f"{path}_commands_s")),
                 (f"**fresh clone to recommendations, {what}**", m[f"{path}_total_s"], f"<= {TARGET_S:.0f} s",
                  every(f"{path}_total_s"))]
    cache = ("off: `PYTHONDONTWRITEBYTECODE` is set here, so every command compiles the libraries it imports; "
             "`igcore train` imports torch, torch_geometric and transformers, which costs more without a cache, "
             "and `igcore recommend` on an unchanged store none of them" if data.get("bytecode_cache") == "off"
             else "on (Python's default): the first command compiles what it imports, later ones reuse it")
    return "\n".join([f"## Command line from a fresh clone\n\n{data['date']} · {data['machine']} · "
                      f"`.venv/bin/python bench/cli_fresh.py --repeats {len(runs)}` (the bundled sample; each step a "
                      f"new process; each run a new clone; Python's bytecode cache {cache})\n",
                      "| step | median s | target | each run s |", "|---|---:|---:|---|"]
                     + [f"| {name} | {s:.0f} | {target} | {each} |" for name, s, target, each in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="fresh clones, each timed through every step")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "cli_fresh.log").unlink(missing_ok=True)
    runs = [run_steps() for _ in range(args.repeats)]
    steps = {key: round(median(r[key] for r in runs), 1) for key in runs[0]}
    data = {"date": today(), "machine": machine(), "target_s": TARGET_S,
            "bytecode_cache": "off" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on", "steps": steps,
            "runs": runs}
    write_json("cli-fresh", data)
    write_section("cli-fresh", section(data))


if __name__ == "__main__":
    main()
