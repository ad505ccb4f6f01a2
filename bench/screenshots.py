"""Screenshots of every dashboard page at 1440 x 900, for the README (docs/screenshots/*.png).

The bundled sample in a fresh store (bench/.work/screenshots.duckdb), a model trained as the Pipeline page
trains it by default, ``igcore app`` serving it, and Debian's Chromium (Playwright) opening each page as a
first-time visitor would: the explorer on the user it opens by default. Each shot waits on what the page shows
(its charts, the interest graph's canvas), never on a fixed sleep.

    .venv/bin/python bench/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from igcore.benchio import WORK  # noqa: E402
from igcore.devtools import REPO, chromium, served_app, wait_idle  # noqa: E402

GRAPH_DRAWN = ("() => Array.from(document.querySelectorAll('iframe')).some(f => { try { "
               "return f.contentDocument && f.contentDocument.querySelector('canvas') !== null; } "
               "catch (e) { return false; } })")
CHART_DRAWN = "[data-testid='stPlotlyChart'] .main-svg"
PAGES = {  # file name: (path, what must be drawn before the shot)
    "home": ("/", CHART_DRAWN),
    "data": ("/data", "[data-testid='stFileUploader']"),
    "pipeline": ("/pipeline", CHART_DRAWN),
    "explorer": ("/explorer", GRAPH_DRAWN),
    "live": ("/live", GRAPH_DRAWN),
    "cohorts": ("/cohorts", CHART_DRAWN),
}


def prepared_store() -> Path:
    """A fresh store holding the sample, its snapshots and a model trained with the Pipeline page's defaults."""
    from igcore.dashboard.overview import prepare_store
    from igcore.dashboard.training import pipeline_config, train_pipeline

    db = WORK / "screenshots.duckdb"
    for stale in (db, Path(str(db) + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(WORK / "models" / db.stem, ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    prepare_store(db)
    train_pipeline(db, pipeline_config())
    return db


def shoot(db: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with served_app(db, WORK / "screenshots_server.log") as base, chromium((1440, 900)) as page:
        for name, (path, drawn) in PAGES.items():
            page.goto(base + path)
            wait_idle(page)
            if drawn.startswith("()"):
                page.wait_for_function(drawn, polling=100)
            else:
                page.wait_for_selector(drawn)
            wait_idle(page)
            shots.append(out / f"{name}.png")
            page.screenshot(path=str(shots[-1]))
            print(f"wrote {shots[-1]}", flush=True)
    return shots


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    shoot(prepared_store(), Path(ap.parse_args().out))


if __name__ == "__main__":
    main()
