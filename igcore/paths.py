"""Where things live: the default store, the bundled sample, the repository root."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
SAMPLE_DIR = DATA_DIR / "sample"
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def default_db_path() -> Path:
    """The store used when none is named: ``$IGCORE_DB`` or ``data/igcore.duckdb``."""
    return Path(os.environ.get("IGCORE_DB") or DATA_DIR / "igcore.duckdb")


def scrub(path: Path) -> None:
    """Overwrite the file with zeros, then delete it: what it held is not left in blocks the file system frees
    (best effort: copy-on-write file systems and SSDs may keep older copies of a block)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        for _ in range(0, size, 1 << 20):
            f.write(bytes(min(1 << 20, size - f.tell())))
        f.flush()
        os.fsync(f.fileno())
    path.unlink()


def replace_scrubbed(path: Path, fresh: Path) -> None:
    """Swap ``fresh`` in for ``path`` atomically (readers see the old file or the new one), then :func:`scrub`
    the old one through a hard link taken before the swap. Where hard links are unsupported the old bytes are
    only unlinked."""
    old = path.with_name(f".{path.name}.scrub")
    old.unlink(missing_ok=True)
    try:
        os.link(path, old)
    except OSError:
        pass
    os.replace(fresh, path)
    if old.exists():
        scrub(old)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write; on success it replaces ``path`` (readers see the old file or
    the new one, never half of it), on failure it is removed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
