"""The dashboard in a real browser: a Beauty user's explorer view, the Live page's add-an-event loop, and a fresh
clone to a usable dashboard.

explorer: a copy of the Beauty store (bench/.work/beauty.duckdb, from ``igcore dataset beauty``) with interest
          snapshots built, served by ``igcore app``; in Chromium (Playwright) an analyst in the open explorer
          types the id of each of ``--users`` random users with at least two snapshots (seed 0), timed until that
          user's interest graph (canvas), the charts and the tables are drawn and the script run is over; then
          as many other users are opened from a link in a fresh page load (Streamlit's front end boots again).
          The first view warms the app's process (imports, store-wide lists) and is reported apart.
live:     the bundled sample with a model trained as the Pipeline page trains it; on the Live page an analyst
          adds an event for the selected user ``--adds`` times, each timed from the click until the new event is
          counted and the user's graph, which the page draws last, names the new event's time (the first add,
          which loads the page's caches, apart), beside the page's own "Updated in" figure.
fresh:    ``git clone`` of this repository into a temporary folder, then the README's first command run there
          verbatim (venv, pip install from the local package index/cache, ``igcore app`` on port 8501, which
          loads the bundled sample and builds its snapshots before the server answers); Chromium opens the
          explorer as a first visitor (timed from the server answering until its default user is drawn), then
          Home, trains the pipeline on the Pipeline page with its default settings, and opens a user in the
          explorer. The figure is the time from the command's start to the explorer's graph being drawn.

    .venv/bin/python bench/dashboard_bench.py [--part explorer|live|fresh|all] [--users 10] [--adds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from igcore.benchio import WORK, machine, read_json, today, write_json, write_section  # noqa: E402
from igcore.devtools import REPO, bytecode_cache_on, chromium, quick_start_commands, served_app, wait_idle  # noqa: E402
from igcore.interests.config import InterestConfig  # noqa: E402
from igcore.interests.snapshots import build_snapshots  # noqa: E402
from igcore.store import Store  # noqa: E402

TARGETS = {"explorer_s": 1.5, "link_s": 2.5, "live_s": 1.0, "fresh_s": 150.0, "first_view_s": 10.0}
GRAPH_OF = ("user => Array.from(document.querySelectorAll('iframe')).some(f => { try { const d = f.contentDocument; "
            "const h = d && d.querySelector('h1'); return h !== null && h.textContent.includes('Interests of ' + user "
            "+ ' at') && d.querySelector('canvas') !== null; } catch (e) { return false; } })")
# The Live page draws the user's graph last after an add: its heading names the new event's time when redrawn.
GRAPH_AT = ("at => Array.from(document.querySelectorAll('iframe')).some(f => { try { const d = f.contentDocument; "
            "const h = d && d.querySelector('h1'); return h !== null && h.textContent.endsWith(at) && "
            "d.querySelector('canvas') !== null; } catch (e) { return false; } })")
COUNTED = "text => document.body.innerText.includes(text)"
SEARCH_PLACEHOLDER = "the whole id or a part of it"
CHART_DRAWN = "[data-testid='stPlotlyChart'] .main-svg"
GRAPH_DRAWN = ("() => Array.from(document.querySelectorAll('iframe')).some(f => { try { "
               "return f.contentDocument && f.contentDocument.querySelector('canvas') !== null; } "
               "catch (e) { return false; } })")


def explorer_url(base: str, user: str) -> str:
    return f"{base}/explorer?{urllib.parse.urlencode({'user': user})}"


def wait_explorer(page, user: str, timeout_ms: float = 60_000) -> None:
    """Until ``user``'s interest graph (a vis-network canvas under its heading, in the graph's frame) and the
    page's plotly charts are drawn, and the script run has finished."""
    page.wait_for_function(GRAPH_OF, arg=user, timeout=timeout_ms, polling=50)
    page.wait_for_selector(CHART_DRAWN, timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def run_explorer(n_users: int) -> dict:
    source = WORK / "beauty.duckdb"
    if not source.exists():
        raise SystemExit(f"{source} is missing: load it with `igcore dataset beauty --db {source}`")
    db = WORK / "dashboard_beauty.duckdb"
    shutil.copy(source, db)
    try:
        with Store(db) as store:
            build_snapshots(store, InterestConfig())
            users = [r[0] for r in store.rows("SELECT user_id FROM interest_snapshots GROUP BY 1 "
                                              "HAVING count(*) >= 2 ORDER BY 1")]
        pick = [users[i] for i in np.random.default_rng(0).choice(len(users), 2 * n_users + 1, replace=False)]
        switch, cold = [], []
        with served_app(db, WORK / "dashboard_beauty_server.log") as base, chromium() as page:
            t0 = time.perf_counter()
            page.goto(explorer_url(base, pick[0]))
            wait_explorer(page, pick[0], 300_000)
            first = time.perf_counter() - t0
            for user in pick[1:n_users + 1]:  # an analyst in the open app types the next user's id
                t0 = time.perf_counter()
                box = page.get_by_placeholder(SEARCH_PLACEHOLDER)
                box.fill(user)
                box.press("Enter")
                wait_explorer(page, user)
                switch.append(time.perf_counter() - t0)
                print(f"explorer, open {user}: {switch[-1]:.2f} s", flush=True)
            page.screenshot(path=str(WORK / "dashboard_beauty_explorer.png"), full_page=True)
            for user in pick[n_users + 1:]:  # a link to the user, opened in a fresh page load
                t0 = time.perf_counter()
                page.goto(explorer_url(base, user))
                wait_explorer(page, user)
                cold.append(time.perf_counter() - t0)
                print(f"explorer, link to {user}: {cold[-1]:.2f} s", flush=True)
    finally:
        db.unlink(missing_ok=True)
        Path(str(db) + ".wal").unlink(missing_ok=True)
    return {"users": n_users, "first_s": round(first, 2), "p50_s": round(statistics.median(switch), 2),
            "max_s": round(max(switch), 2), "link_p50_s": round(statistics.median(cold), 2),
            "link_max_s": round(max(cold), 2)}


def run_live(n_adds: int) -> dict:
    """The Live page on the bundled sample with a model trained by the Pipeline page's defaults: an analyst adds
    an event for the selected user ``n_adds`` times; each add is timed in the browser from the click until the
    new event is counted and the user's graph, which the page draws after the recommendations, names the new
    event's time in its heading (both polled every 20 ms; the page must be idle before the next add), and by the
    page's own "Updated in" figure (import, snapshot update, online model update, new graph). The first add
    warms the page's caches and is reported apart."""
    from igcore.dashboard.overview import prepare_store
    from igcore.dashboard.training import pipeline_config, train_pipeline

    db = WORK / "dashboard_live.duckdb"
    for stale in (db, Path(str(db) + ".wal")):
        stale.unlink(missing_ok=True)
    try:
        prepare_store(db)
        train_pipeline(db, pipeline_config())
        browser, server = [], []
        with served_app(db, WORK / "dashboard_live_server.log") as base, chromium() as page:
            page.goto(base + "/live")
            wait_idle(page, 300_000)
            count_of = re.compile(r"([\d,]+) events, the last at")
            for i in range(n_adds + 1):
                page.get_by_text(count_of).first.wait_for(timeout=300_000)
                before = int(count_of.search(page.inner_text("body")).group(1).replace(",", ""))
                at = page.get_by_label("Time (UTC; ISO-8601 or unix seconds)").input_value()  # the new event's
                t0 = time.perf_counter()
                page.get_by_role("button", name="Add the event").click()
                try:  # polled every 20 ms: a locator's own wait backs off to half a second between looks
                    page.wait_for_function(COUNTED, arg=f"{before + 1:,} events, the last at", timeout=120_000,
                                           polling=20)
                    page.wait_for_function(GRAPH_AT, arg=f" at {at}Z", timeout=120_000, polling=20)
                except Exception:
                    page.screenshot(path=str(WORK / "dashboard_live_failed.png"), full_page=True)
                    raise
                seconds = time.perf_counter() - t0
                wait_idle(page)  # the run is over before the next add (not timed)
                metric = page.locator("[data-testid='stMetric']").filter(has_text="Updated in").inner_text()
                if i:  # the first add warms the caches: reported apart
                    browser.append(seconds)
                    server.append(float(re.search(r"([\d.]+) s", metric).group(1)))
                else:
                    first = seconds
                print(f"live, add {i}: {seconds:.2f} s in the browser; page: {metric.split()[-2]} s", flush=True)
            page.screenshot(path=str(WORK / "dashboard_live.png"), full_page=True)
    finally:
        for path in (db, Path(str(db) + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(WORK / "models" / db.stem, ignore_errors=True)
    return {"adds": n_adds, "first_s": round(first, 2), "p50_s": round(statistics.median(browser), 2),
            "max_s": round(max(browser), 2), "page_p50_s": round(statistics.median(server), 2),
            "page_max_s": round(max(server), 2)}


def run_fresh() -> dict:
    with tempfile.TemporaryDirectory(prefix="igcore-fresh-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        command = quick_start_commands()[0]
        log = open(WORK / "dashboard_fresh.log", "w")
        t0 = time.perf_counter()
        proc = subprocess.Popen(["bash", "-c", command], cwd=clone, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True,  # the server is bash's child: stop the whole group
                                env={**os.environ, "HF_HUB_OFFLINE": "1", "IGCORE_DB": ""})
        marks = {}
        try:
            base = "http://localhost:8501"
            while True:
                try:
                    with urllib.request.urlopen(base + "/_stcore/health", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None:
                        raise SystemExit("the README command ended early; see bench/.work/dashboard_fresh.log") \
                            from None
                    time.sleep(0.5)
            marks["server_up_s"] = time.perf_counter() - t0
            with chromium() as page:
                page.goto(base + "/explorer")  # a first visitor opens the explorer: its default user, drawn
                page.wait_for_function(GRAPH_DRAWN, timeout=600_000, polling=50)
                page.wait_for_selector(CHART_DRAWN, timeout=600_000)
                wait_idle(page, 600_000)
                marks["first_view_s"] = time.perf_counter() - t0 - marks["server_up_s"]
                page.goto(base + "/")
                wait_idle(page, 600_000)
                page.get_by_text("Events", exact=True).first.wait_for(timeout=600_000)
                marks["home_s"] = time.perf_counter() - t0
                page.goto(base + "/pipeline")
                wait_idle(page)
                page.get_by_role("button", name="Train", exact=True).click()
                page.locator("[data-testid='stAlertContentSuccess']").filter(has_text="Trained").first.wait_for(
                    timeout=600_000)
                wait_idle(page, 600_000)
                marks["trained_s"] = time.perf_counter() - t0
                with Store(clone / "data" / "igcore.duckdb", read_only=True) as store:
                    user = store.value("SELECT user_id FROM events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
                page.goto(explorer_url(base, user))
                wait_explorer(page, user, 300_000)
                marks["explorer_s"] = time.perf_counter() - t0
                page.screenshot(path=str(WORK / "dashboard_fresh_explorer.png"), full_page=True)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
            log.close()
    print("fresh clone: " + ", ".join(f"{k} {v:.0f}" for k, v in marks.items()), flush=True)
    return {k: round(v, 1) for k, v in marks.items()}


def section(data: dict) -> str:
    lines = [f"## Dashboard\n\n{data.get('date', '')} · {data.get('machine', '')} · `bench/dashboard_bench.py` "
             "(Streamlit served on 127.0.0.1, Debian's Chromium through Playwright)\n",
             "Load average (1 min) when each part started: " + ", ".join(
                 f"{part} {data[part].get('load_before', 'not recorded')}" for part in ("explorer", "live", "fresh")
                 if part in data) + " (2 cores: above 2, other work competed for them). Python's bytecode cache: "
             f"{data.get('bytecode_cache', 'not recorded')} (every process the bench starts may write it).\n",
             "| figure | measured | target |", "|---|---:|---:|"]
    ex = data.get("explorer")
    if ex:
        lines += [f"| Beauty: open a user in the explorer (id typed; graph, charts and tables drawn), median of "
                  f"{ex['users']} users | {ex['p50_s']:.2f} s | <= {TARGETS['explorer_s']:.1f} s |",
                  f"| Beauty: slowest of those users | {ex['max_s']:.2f} s | |",
                  f"| Beauty: a link to a user opened in a fresh page load, median of {ex['users']} | "
                  f"{ex['link_p50_s']:.2f} s | <= {TARGETS['link_s']:.1f} s |",
                  f"| Beauty: slowest fresh page load | {ex['link_max_s']:.2f} s | |",
                  f"| Beauty: first view after the server started (process warm-up) | {ex['first_s']:.2f} s | |"]
    live = data.get("live")
    if live:
        lines += [f"| sample, trained model: Live page, add an event until graph and recommendations are redrawn "
                  f"(browser), median of {live['adds']} | {live['p50_s']:.2f} s | <= {TARGETS['live_s']:.0f} s |",
                  f"| sample: slowest of those adds | {live['max_s']:.2f} s | |",
                  f"| sample: the page's own figure (import, snapshots, model update, new graph), median / max | "
                  f"{live['page_p50_s']:.2f} / {live['page_max_s']:.2f} s | |",
                  f"| sample: first add (warms the page's caches) | {live['first_s']:.2f} s | |"]
    fresh = data.get("fresh")
    if fresh:
        lines += [f"| fresh clone: README command to server up (venv + pip install; the store made ready: sample "
                  f"loaded, snapshots built) | {fresh['server_up_s']:.0f} s | |"]
        if "first_view_s" in fresh:
            lines += [f"| fresh clone: server up to the explorer's default user drawn (first start) | "
                      f"{fresh['first_view_s']:.1f} s | <= {TARGETS['first_view_s']:.0f} s |"]
        lines += [f"| fresh clone: ... Home shows the sample | {fresh['home_s']:.0f} s | |",
                  f"| fresh clone: ... pipeline trained on the sample (Pipeline page defaults) | "
                  f"{fresh['trained_s']:.0f} s | |",
                  f"| fresh clone: ... a user's explorer view drawn (usable dashboard) | {fresh['explorer_s']:.0f} s "
                  f"| <= {TARGETS['fresh_s']:.0f} s |"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["explorer", "live", "fresh", "all"], default="all")
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--adds", type=int, default=10)
    args = ap.parse_args()
    bytecode_cache_on()  # the condition: a normal install, Python's bytecode cache on
    data: dict = {"date": today(), "machine": machine(), "targets": TARGETS, "bytecode_cache": "on"}
    for part, run in (("explorer", lambda: run_explorer(args.users)), ("live", lambda: run_live(args.adds)),
                      ("fresh", run_fresh)):
        if args.part in (part, "all"):  # each part is saved when done, so a later failure keeps it
            load = os.getloadavg()[0]  # other work on the machine when the part started: these are wall times
            data[part] = {**run(), "load_before": round(load, 1)}
            write_json("dashboard", data, merge=True)
            write_section("dashboard", section(read_json("dashboard") or data))


if __name__ == "__main__":
    main()
