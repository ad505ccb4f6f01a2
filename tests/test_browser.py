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

from igcore.devtools import CHROMIUM, REPO, chromium, patiently, served_app, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not "
                                                   "installed (.ci/run installs it)")]

ARTIFACTS = REPO / "tests" / ".artifacts"
EVIL_USER = "<img src=x onerror=alert(1)>"
EVIL_TITLE = "<script>alert(\"x\")</script> Trail 'Shoe'"
NODE_BOXES = ("() => network.body.nodeIndices.map(id => Object.assign({id: id}, network.getBoundingBox(id)))")
TABLES_TOO_WIDE = ("() => Array.from(document.querySelectorAll(\"[data-testid='stDataFrame'] .dvn-scroller\"))"
                   ".filter(s => s.scrollWidth > s.clientWidth + 1).map(s => [s.scrollWidth, s.clientWidth])")
GRAPH_DRAWN = ("() => Array.from(document.querySelectorAll('iframe')).some(f => { try { "
               "return f.contentDocument && f.contentDocument.querySelector('canvas') !== null; } "
               "catch (e) { return false; } })")


def overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    """Pairs of node ids whose drawn boxes (label included) intersect."""
    return [(a["id"], b["id"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]]


def too_wide(page) -> list[list[int]]:
    """(scroll width, width) of every table on the page that scrolls sideways once drawn."""
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stDataFrame'] .dvn-scroller\").length > 0")
    return page.evaluate(TABLES_TOO_WIDE)


def success_or_error(page, text: str):
    """The success alert holding ``text``, or any error or exception the page shows instead: a wait on it ends
    either way, and the test then says which (an error never leaves it waiting)."""
    return (page.locator("[data-testid='stAlertContentSuccess']").filter(has_text=text)
            .or_(page.locator("[data-testid='stAlertContentError'], [data-testid='stException']")).first)


def expect_success(outcome, what: str) -> None:
    body = outcome.inner_text()
    assert outcome.get_attribute("data-testid") == "stAlertContentSuccess", f"{what}: {body}"


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
        page.goto(base)
        wait_idle(page)
        assert too_wide(page) == []  # Home: the import table fits
        page.goto(base + "/data")
        wait_idle(page)
        for kind, csv in (("Items", items), ("Events", events)):
            page.get_by_role("radio", name=kind, exact=True).click()  # the file kind selector
            uploader = page.locator("[data-testid='stFileUploader']").filter(has_text=f"{kind} CSV")
            uploader.wait_for(state="visible")
            uploader.locator("input[type=file]").set_input_files(str(csv))
            wait_idle(page)
            button = page.get_by_role("button", name=f"Import {kind.lower()}")
            patiently(page, lambda ms, b=button: b.click(timeout=ms), f"import-{kind.lower()}", ARTIFACTS)
            done = success_or_error(page, f"({kind.lower()})")
            patiently(page, lambda ms, d=done: d.wait_for(timeout=ms), f"imported-{kind.lower()}", ARTIFACTS)
            expect_success(done, f"import {kind}")
            wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "data.png"), full_page=True)

        page.goto(base + "/pipeline")
        wait_idle(page)
        # A form: its values go to the app when Train is pressed (Enter in a field would submit it early).
        page.get_by_role("spinbutton", name="Epochs").fill("1")
        # The catalogue's texts are not encoded here (MiniLM over the sample's catalogue is much of a training run
        # on this CPU; tests/test_encode_text.py covers the encoder): attribute vectors stand in for them.
        text_encoder = page.get_by_role("checkbox", name="Text encoder")
        page.get_by_text("Text encoder", exact=True).click()  # the label: Streamlit hides the input itself
        assert not text_encoder.is_checked()
        t0 = time.perf_counter()
        page.get_by_role("button", name="Train", exact=True).click()
        trained = success_or_error(page, "Trained")
        trained.wait_for()
        expect_success(trained, "training")
        timings["train_s"] = time.perf_counter() - t0
        assert "Trained igcore-no-text in" in trained.inner_text()  # what was trained is what the page says
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "pipeline.png"), full_page=True)

        t0 = time.perf_counter()
        page.goto(f"{base}/explorer?{urllib.parse.urlencode({'user': EVIL_USER})}")
        page.wait_for_selector("[data-testid='stPlotlyChart'] .main-svg")
        page.wait_for_function(GRAPH_DRAWN, polling=50)
        timings["explorer_s"] = time.perf_counter() - t0
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / "explorer_evil.png"), full_page=True)
        body = page.inner_text("body")
        assert EVIL_USER in body  # shown as text: the markup did not become an element
        assert page.locator("img[src=x]").count() == 0
        graph_frame = next(f for f in page.frames if f != page.main_frame and f.query_selector("canvas"))
        assert graph_frame.locator("script[src^=http]").count() == 0 and graph_frame.locator("img").count() == 0

        # The explorer as it opens (the user whose interests changed most), at 1440 x 900: no two labels of the
        # drawn graph overlap (the boxes the browser drew), and every table fits its width.
        page.goto(f"{base}/explorer")
        page.wait_for_selector("[data-testid='stPlotlyChart'] .main-svg")
        page.wait_for_function(GRAPH_DRAWN, polling=50)
        wait_idle(page)
        graph_frame = next(f for f in page.frames if f != page.main_frame and f.query_selector("canvas"))
        boxes = graph_frame.evaluate(NODE_BOXES)
        assert len(boxes) > 5 and overlapping(boxes) == []
        assert graph_frame.evaluate("() => network.getPositions('u')['u']") == {"x": 0, "y": 0}  # at the centre
        assert too_wide(page) == []
        page.screenshot(path=str(ARTIFACTS / "explorer.png"))
        page.goto(base + "/live")
        page.wait_for_function(GRAPH_DRAWN, polling=50)
        wait_idle(page)
        assert too_wide(page) == []
    assert dialogs == []  # no injected script ever ran
    print(f"browser timings: {timings}")
