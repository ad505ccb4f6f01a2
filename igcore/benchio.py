"""Where benchmark figures go: ``bench/results/*.json`` and the tables of ``docs/BENCHMARKS.md``.

Every figure is written by a bench run, never by hand; each writer owns one section of the document, between
``<!-- NAME -->`` and ``<!-- /NAME -->``, and replaces only that section.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from igcore.paths import REPO_ROOT

# Where results go; $IGCORE_BENCH_OUT redirects them (tests write into a temporary folder, not the repo).
OUT_ROOT = Path(os.environ.get("IGCORE_BENCH_OUT") or REPO_ROOT)
RESULTS = OUT_ROOT / "bench" / "results"
WORK = OUT_ROOT / "bench" / ".work"  # ignored: generated inputs and cached stores
DOC = OUT_ROOT / "docs" / "BENCHMARKS.md"


def machine() -> str:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def today() -> str:
    return dt.date.today().isoformat()


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def write_json(name: str, data: dict, merge: bool = False) -> Path:
    """Write bench/results/NAME.json; with ``merge``, keep keys other runs wrote."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    if merge and path.exists():
        data = {**json.loads(path.read_text()), **data}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def read_json(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """An exclusive lock on result NAME across processes, held while a run reads, merges and writes it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_section(section: str, markdown: str) -> None:
    """Replace (or append) section ``section`` of docs/BENCHMARKS.md."""
    start, end = f"<!-- {section} -->", f"<!-- /{section} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
