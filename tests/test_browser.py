"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against the app served on 127.0.0.1.

One walk through the main flow on a copy of the prepared sample store: upload an events CSV whose user id and
item title hold markup, train the pipeline on the Pipeline page, open that user in the explorer and check that
the interest graph (a vis-network canvas) and the timeline chart are drawn, that the markup shows as text and
never runs. Screenshots go to tests/.artifacts/ (ignored); the timings are printed for docs/BENCHMARKS.md
(bench/dashboard_bench.py measures them on Beauty and from a fresh clone).
"""

from __future__ import annotations

import time
import urllib.parse

import pytest

from igcore.devtools import CHROMIUM, REPO, chromium, served_app, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not "
                                                   "installed (.ci/run installs it)")]

ARTIFACTS = REPO / "tests" / ".artifacts"
EVIL_USER = "<img src=x onerror=alert(1)>"
EVIL_TITLE = "<script>alert(\"x\")</script> Trail 'Shoe'"
GRAPH_DRAWN = ("() => Array.from(document.querySelectorAll('iframe')).some(f => { try { "
               "return f.contentDocument && f.contentDocument.querySelector('canvas') !== null; } "
               "catch (e) { return false; } })")


@pytest.mark.timeout(900)
def test_upload_train_and_explore_in_chromium(sample_app_db, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    items = tmp_path / "items.csv"
    items.write_text(f'item_id,title,category\nX1,"{EVIL_TITLE.replace(chr(34), chr(34) * 2)}",Running\n')
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,event_type,timestamp\n" + "".join(
        f'"{EVIL_USER}",{item},view,{1_700_000_000 + 60 * k}\n'
        for k, item in enumerate(["X1", "I00001", "X1", "I00002"] * 3)))
    dialogs: list[str] = []
    timings: dict[str, float] = {}
    with served_app(sample_app_db, tmp_path / "server.log") as base, chromium() as page:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(base + "/data")
        wait_idle(page)
        for kind, csv in (("Items", items), ("Events", events)):
            page.get_by_role("tab", name=kind).click()
            uploader = page.locator("[data-testid='stFileUploader']").filter(has_text=f"{kind} CSV")
            uploader.wait_for(state="visible")
            uploader.locator("input[type=file]").set_input_files(str(csv))
            wait_idle(page)  # the upload's rerun keeps the chosen tab
            page.get_by_role("button", name=f"Import {kind.lower()}").click(timeout=30_000)
            page.locator("[data-testid='stAlertContentSuccess']").filter(has_text=f"({kind.lower()})").first.wait_for(
                timeout=120_000)
            wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "data.png"), full_page=True)

        page.goto(base + "/pipeline")
        wait_idle(page)
        epochs = page.get_by_role("spinbutton", name="Epochs")
        epochs.fill("1")
        epochs.press("Enter")
        t0 = time.perf_counter()
        page.get_by_role("button", name="Train", exact=True).click()
        page.locator("[data-testid='stAlertContentSuccess']").filter(has_text="Trained").first.wait_for(
            timeout=600_000)
        timings["train_s"] = time.perf_counter() - t0
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "pipeline.png"), full_page=True)

        t0 = time.perf_counter()
        page.goto(f"{base}/explorer?{urllib.parse.urlencode({'user': EVIL_USER})}")
        page.wait_for_selector("[data-testid='stPlotlyChart'] .main-svg", timeout=60_000)
        page.wait_for_function(GRAPH_DRAWN, timeout=60_000, polling=50)
        timings["explorer_s"] = time.perf_counter() - t0
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "explorer_evil.png"), full_page=True)
        body = page.inner_text("body")
        assert EVIL_USER in body  # shown as text: the markup did not become an element
        assert page.locator("img[src=x]").count() == 0
        graph_frame = next(f for f in page.frames if f != page.main_frame and f.query_selector("canvas"))
        assert graph_frame.locator("script[src^=http]").count() == 0 and graph_frame.locator("img").count() == 0

        # The screenshot the README shows (docs/explorer.png): a sample user with planted drift, page tall enough
        # for the graph, the recommendations and the interest timeline.
        page.set_viewport_size({"width": 1400, "height": 2200})
        page.goto(f"{base}/explorer?user=U00019")
        page.wait_for_selector("[data-testid='stPlotlyChart'] .main-svg", timeout=60_000)
        page.wait_for_function(GRAPH_DRAWN, timeout=60_000, polling=50)
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "explorer.png"), full_page=True)
    assert dialogs == []  # no injected script ever ran
    print(f"browser timings: {timings}")
