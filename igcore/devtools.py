"""Driving the product from outside, as a user does: shared by the tests and the bench scripts.

``quick_start_commands`` reads the README's two commands; ``bytecode_cache_on`` turns Python's bytecode cache on
for this process and those it starts; ``served_app`` starts the app as users do
(``igcore app``) on 127.0.0.1 on a free port against a given store and waits for its health endpoint;
``chromium`` launches Debian's Chromium through Playwright (never a downloaded browser) with the flags that keep
it offline; ``wait_idle`` waits until Streamlit has finished running the page's script; ``patiently`` retries
an action until it succeeds, saving what the page shows while it waits.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from igcore.paths import REPO_ROOT as REPO

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def quick_start_commands() -> list[str]:
    """The bash blocks of the README's quick start, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def bytecode_cache_on() -> None:
    """Let this process and every process it starts write Python's bytecode cache, as a normal install does. A
    fresh venv holds none (the README installs with ``pip --no-compile``), and a shell may set
    ``PYTHONDONTWRITEBYTECODE``: every new process (a CLI run, a Streamlit server, a Ray worker) would then
    compile torch, Ray and Streamlit from source again."""
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served_app(db_path: Path, log_path: Path, timeout_s: float = 120.0) -> Iterator[str]:
    """The app serving ``db_path`` (``igcore app`` on 127.0.0.1); yields its base URL. The server's output goes
    to ``log_path``."""
    port = free_port()
    env = {**os.environ, "IGCORE_DB": str(db_path), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "igcore.cli", "app", "--db", str(db_path), "--port", str(port),
           "--address", "127.0.0.1"]
    with server(cmd, env, port, log_path, timeout_s) as base:
        yield base


@contextlib.contextmanager
def server(cmd: list[str], env: dict[str, str], port: int, log_path: Path,
           timeout_s: float = 120.0) -> Iterator[str]:
    """Run ``cmd`` (a Streamlit server on ``port``) until its health endpoint answers; yield its base URL, stop
    it after."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the app did not start; see {log_path}")
                time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.contextmanager
def chromium(viewport: tuple[int, int] = (1440, 900), timeout_ms: float = 0) -> Iterator:
    """A Playwright page in Debian's Chromium. Its actions wait ``timeout_ms`` at most for what they act on
    (0: as long as it takes; a test's own timeout bounds it), so a busy machine slows a run but never fails it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def patiently(page, act: Callable[[float], T], label: str, folder: Path, every_ms: float = 60_000) -> T:
    """``act(timeout_ms)`` (a Playwright action or wait) retried until it succeeds, however long that takes:
    a busy machine slows a run but never fails it. Each time a slice of ``every_ms`` passes without success,
    what the page shows is saved as ``folder/stuck-<label>.png`` and ``.txt`` (screenshot, page text, frames),
    so that a run ended by the test's own timeout says where it waited and on what."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    waited = 0
    while True:
        try:
            return act(every_ms)
        except PlaywrightTimeout:
            waited += 1
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(Exception):  # a page that cannot even be captured says so in the text
                page.screenshot(path=str(folder / f"stuck-{label}.png"), full_page=True, timeout=every_ms)
            with contextlib.suppress(Exception):
                (folder / f"stuck-{label}.txt").write_text(
                    f"waited {waited} x {every_ms / 1000:.0f} s for {label} at {page.url}\n\n"
                    + page.inner_text("body", timeout=every_ms))


def wait_idle(page, timeout_ms: float = 120_000) -> None:
    """Until the app has rendered and no script run is in progress (Streamlit's status widget is gone)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\") && "
        "document.querySelector(\"[data-testid='stAppViewBlockContainer'], [data-testid='stMain']\") !== null",
        timeout=timeout_ms, polling=100)
