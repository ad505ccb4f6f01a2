"""From a fresh clone to recommendations on the command line: the README's set-up, then ``igcore sample``,
``igcore train`` and ``igcore recommend USER --explain``, each step timed.

The set-up is the README's first command without its last step (starting the dashboard). Training is timed
twice on the same store: with two epochs (what the dashboard's Pipeline page trains by default, and the quick
path the README shows) and with the library's defaults (up to 200 epochs, early stopping on each user's last
event), after which ``recommend`` runs again on that model.

    .venv/bin/python bench/cli_fresh.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from igcore.benchio import WORK, machine, today, write_json, write_section  # noqa: E402
from igcore.store import Store  # noqa: E402
from tests.test_readme import REPO, quick_start_commands  # noqa: E402

TARGET_S = 180.0
APP_STEP = " && .venv/bin/igcore app"


def run_steps() -> dict:
    setup = quick_start_commands()[0]
    assert setup.endswith(APP_STEP), setup
    setup = setup.removesuffix(APP_STEP)
    marks: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="igcore-cli-") as tmp, open(WORK / "cli_fresh.log", "w") as log:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "IGCORE_DB": str(clone / "data" / "igcore.duckdb")}

        def step(name: str, command: str) -> None:
            log.write(f"$ {command}\n")
            log.flush()
            t0 = time.perf_counter()
            subprocess.run(["bash", "-c", command], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                           check=True)
            marks[name] = round(time.perf_counter() - t0, 1)
            print(f"{name}: {marks[name]:.1f} s", flush=True)

        step("setup_s", setup)
        step("sample_s", ".venv/bin/igcore sample")
        with Store(clone / "data" / "igcore.duckdb", read_only=True) as store:
            user = store.value("SELECT user_id FROM events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
        step("train_quick_s", ".venv/bin/igcore train --set epochs=2")
        step("recommend_s", f".venv/bin/igcore recommend {user} --explain")
        step("train_default_s", ".venv/bin/igcore train")
        step("recommend_default_s", f".venv/bin/igcore recommend {user} --explain")
    marks["quick_total_s"] = round(marks["setup_s"] + marks["sample_s"] + marks["train_quick_s"]
                                   + marks["recommend_s"], 1)
    marks["default_total_s"] = round(marks["setup_s"] + marks["sample_s"] + marks["train_default_s"]
                                     + marks["recommend_default_s"], 1)
    return marks


def section(data: dict) -> str:
    m = data["steps"]
    rows = [("README set-up (venv + pip install, as the first command)", m["setup_s"], ""),
            ("`igcore sample`", m["sample_s"], ""),
            ("`igcore train --set epochs=2` (the dashboard's default)", m["train_quick_s"], ""),
            ("`igcore recommend USER --explain`", m["recommend_s"], ""),
            ("**fresh clone to recommendations, 2 epochs**", m["quick_total_s"], f"<= {TARGET_S:.0f} s"),
            ("`igcore train` (library defaults: early stopping)", m["train_default_s"], ""),
            ("`igcore recommend USER --explain` on that model", m["recommend_default_s"], ""),
            ("**fresh clone to recommendations, library defaults**", m["default_total_s"], f"<= {TARGET_S:.0f} s")]
    return "\n".join([f"## Command line from a fresh clone\n\n{data['date']} · {data['machine']} · "
                      "`.venv/bin/python bench/cli_fresh.py` (the bundled sample; each step a new process)\n",
                      "| step | seconds | target |", "|---|---:|---:|"]
                     + [f"| {name} | {s:.0f} | {target} |" for name, s, target in rows])


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    data = {"date": today(), "machine": machine(), "target_s": TARGET_S, "steps": run_steps()}
    write_json("cli-fresh", data)
    write_section("cli-fresh", section(data))


if __name__ == "__main__":
    main()
