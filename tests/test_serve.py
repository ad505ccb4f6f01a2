"""The Streamlit work-around of igcore.dashboard.serve, and the dashboard served for real with a login.

The first two tests fail the day Streamlit changes underneath the work-around: the flag it sets must still
exist and still decide the legacy pages/ mode, and a fresh server's first request for /data must run inside
app.py's frame, whether started by `igcore app` or by a plain `streamlit run app.py`. The last one serves on
0.0.0.0 with passwords and drives Chromium: a visitor sees only the login form; a viewer never sees a user.
"""

from __future__ import annotations

import os
import pkgutil
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from igcore.dashboard import access, serve
from igcore.devtools import CHROMIUM, REPO, chromium, free_port, server, wait_idle

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                    "(.ci/run installs it)")
SECRET_USER = "U-SECRET-7"
ANALYST_PW, VIEWER_PW = "analyst-secret-1", "viewer-secret-22"


def test_the_legacy_pages_flag_still_exists_and_still_decides(tmp_path):
    from streamlit.runtime.pages_manager import PagesManager

    saved = PagesManager.uses_pages_directory
    try:
        (tmp_path / "pages").mkdir()
        (tmp_path / "app.py").write_text("")
        PagesManager.uses_pages_directory = None
        PagesManager(str(tmp_path / "app.py"), setup_watcher=False)
        assert PagesManager.uses_pages_directory is True  # a pages/ folder still switches the legacy mode on
        assert serve.use_navigation_only() is True
        PagesManager(str(tmp_path / "app.py"), setup_watcher=False)
        assert PagesManager.uses_pages_directory is False  # and the switch still holds for new sessions
        assert serve.use_navigation_only() is False
    finally:
        PagesManager.uses_pages_directory = saved


def _tiny_store(db: Path, tmp_path: Path) -> None:
    """Two items and eight events of one user, with its interest snapshots (so the app loads no sample)."""
    from igcore.dashboard.overview import prepare_store
    from tests.conftest import one_user_store

    prepare_store(one_user_store(db, tmp_path, SECRET_USER, 1_700_000_000))


def _env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (access.ANALYST_HASH_ENV, access.VIEWER_HASH_ENV)}
    return {**env, "IGCORE_DB": str(db), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}


def _nav_labels(page) -> list[str]:
    return [text.split("\n")[-1] for text in page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()]


@needs_chromium
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("launcher", ["igcore app", "streamlit run app.py"])
def test_a_fresh_servers_first_request_for_data_runs_inside_the_frame(launcher, tmp_path):
    db = tmp_path / "s.duckdb"
    _tiny_store(db, tmp_path)
    port = free_port()
    cmd = ([sys.executable, "-m", "igcore.cli", "app", "--port", str(port)] if launcher == "igcore app" else
           [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none"])
    with server(cmd, _env(db), port, tmp_path / "server.log") as base, chromium() as page:
        page.goto(base + "/data")
        page.get_by_text("Store:").first.wait_for(timeout=60_000)  # app.py's sidebar caption: the frame ran
        wait_idle(page)
        labels = _nav_labels(page)
        assert "User explorer" in labels and "common" not in labels  # app.py's navigation, not the folder's
        assert page.url.rstrip("/").endswith("/data")


@needs_chromium
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_on_a_non_local_address_a_visitor_sees_the_login_and_a_viewer_no_user(tmp_path):
    db = tmp_path / "s.duckdb"
    _tiny_store(db, tmp_path)
    port = free_port()
    env = _env(db, **{access.ANALYST_HASH_ENV: access.hash_password(ANALYST_PW, n=2**10),
                      access.VIEWER_HASH_ENV: access.hash_password(VIEWER_PW, n=2**10)})
    explorer = f"/explorer?{urllib.parse.urlencode({'user': SECRET_USER})}"
    cmd = [sys.executable, "-m", "igcore.cli", "app", "--port", str(port), "--address", "0.0.0.0"]
    with server(cmd, env, port, tmp_path / "server.log") as base, chromium() as page:
        def close_page_not_found() -> None:
            """Streamlit answers a URL for a page outside the list with a 'Page not found' dialog over the
            first page of the list; close it."""
            dialog = page.get_by_role("dialog")
            if dialog.count():
                assert "not found" in dialog.inner_text().lower()
                page.keyboard.press("Escape")
                dialog.wait_for(state="hidden")

        def log_in(password: str) -> None:
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Log in").click()
            page.locator("[data-testid='stMetric']").first.wait_for(timeout=60_000)
            wait_idle(page)

        page.goto(base + explorer)  # straight to a user's history, not logged in
        page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
        wait_idle(page)
        close_page_not_found()
        body = page.inner_text("body")
        assert SECRET_USER not in body and "Events" not in body and _nav_labels(page) == []
        assert page.locator("[data-testid='stMetric']").count() == 0

        log_in(VIEWER_PW)  # one page, the private cohort releases: Streamlit draws no menu for a single page
        assert _nav_labels(page) == [] and "Privacy budget" in page.inner_text("body")
        assert SECRET_USER not in page.inner_text("body")
        # the explorer's URL within the logged-in session, as a typed link would ask for it
        page.evaluate(f"() => {{ window.history.pushState({{}}, '', {explorer!r}); "
                      "window.dispatchEvent(new PopStateEvent('popstate')); }")
        wait_idle(page)
        close_page_not_found()
        page.wait_for_function("() => !location.pathname.endsWith('/explorer')", timeout=60_000)
        wait_idle(page)  # the frontend took the URL and was sent back to the first page of the viewer's list
        body = page.inner_text("body")
        assert SECRET_USER not in body and "User explorer" not in body and _nav_labels(page) == []
        page.goto(base + explorer)  # a new page load is a new session: the login form again
        page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
        wait_idle(page)
        close_page_not_found()
        assert SECRET_USER not in page.inner_text("body")

        log_in(ANALYST_PW)  # the positive control: an analyst does get there
        assert "User explorer" in _nav_labels(page)
        page.locator("[data-testid='stSidebarNav'] a", has_text="User explorer").click()
        page.get_by_text(SECRET_USER).first.wait_for(timeout=60_000)


def test_warming_imports_every_module_the_pages_import(tmp_path):
    out = subprocess.run([sys.executable, "-c", "import sys; from igcore.dashboard.serve import warm_imports; "
                          "warm_imports(); print(' '.join(sorted(sys.modules)))"], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    loaded = set(out.stdout.split())
    pages = {m.group(1) for page in (REPO / "pages").glob("*.py")
             for m in re.finditer(r"^(?:from|import) ((?:igcore|streamlit|plotly|pyvis)[\w.]*)", page.read_text(),
                                  re.M)}
    assert pages and pages <= loaded, pages - loaded
    modules = pkgutil.iter_modules([str(Path(serve.__file__).parent)])
    assert {f"igcore.dashboard.{m.name}" for m in modules} <= loaded  # what the pages read through


def test_the_first_pages_a_visitor_opens_do_not_import_torch():
    """Home and the explorer on a store without a trained model only read the store: torch and torch_geometric
    are imported where a network runs, not with the pages' modules, so the first view does not wait for them."""
    code = ("import sys, pages.common, igcore.dashboard.explorer, igcore.dashboard.overview; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torch_geometric'))[:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
