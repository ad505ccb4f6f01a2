"""Loaders that bring the public benchmark datasets of ``../shared/data`` into the store.

Each loader goes through the same importers as a user's upload, so every row is accounted for.
Registered by name; :func:`resolve_dataset` lists the valid names on a wrong one.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from igcore.config import IngestConfig
from igcore.errors import IgcoreError
from igcore.events import has_events
from igcore.ingest import ImportReport, import_events, import_items
from igcore.paths import SAMPLE_DIR, SHARED_DATA
from igcore.progress import Progress, no_progress
from igcore.store import Store

Loader = Callable[[Store, Path, Progress], list[ImportReport]]
DATASETS: dict[str, tuple[str, Loader]] = {}  # name -> (folder under the data root, loader)


def dataset(name: str, folder: str) -> Callable[[Loader], Loader]:
    def register(fn: Loader) -> Loader:
        DATASETS[name] = (folder, fn)
        return fn
    return register


def resolve_dataset(name: str) -> tuple[str, Loader]:
    if name not in DATASETS:
        raise IgcoreError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def load_dataset(store: Store, name: str, root: str | Path | None = None,
                 progress: Progress = no_progress) -> list[ImportReport]:
    """Import dataset ``name`` from ``root`` (default ``../shared/data``; the sample lives in ``data/``)."""
    folder, loader = resolve_dataset(name)
    base = Path(root) if root is not None else (SAMPLE_DIR.parent if name == "sample" else SHARED_DATA)
    path = base / folder
    if not path.is_dir():
        raise IgcoreError(f"dataset {name!r} not found: {path} does not exist")
    return loader(store, path, progress)


def ensure_sample(store: Store, progress: Progress = no_progress) -> list[ImportReport]:
    """Load the bundled sample into a store that holds no events yet (the dashboard's first start)."""
    if has_events(store):
        return []
    return load_dataset(store, "sample", progress=progress)


@dataset("sample", "sample")
def _sample(store: Store, path: Path, progress: Progress) -> list[ImportReport]:
    return [import_items(store, path / "items.csv", progress=progress),
            import_events(store, path / "events.csv.gz", progress=progress)]


@dataset("toys", "amazon_toys")
@dataset("beauty", "amazon_beauty")
def _amazon_reviews(store: Store, path: Path, progress: Progress) -> list[ImportReport]:
    """The S3-Rec 5-core Amazon sets (Beauty; Toys and Games, whose times are ordinal days): one layout, so one
    loader. Reviews as implicit feedback: one event type. Row order within a user is the sequence; event_id
    keeps it (Beauty's same-day events tie on time)."""
    config = IngestConfig(default_event_type="review")
    return [import_items(store, path / "items.csv", progress=progress),
            import_events(store, path / "interactions.csv", config=config, progress=progress)]


@dataset("taobao", "taobao_userbehavior")
def _taobao(store: Store, path: Path, progress: Progress) -> list[ImportReport]:
    return [import_events(store, path / "events.csv", progress=progress)]


@dataset("rees46", "rees46_sample")
def _rees46(store: Store, path: Path, progress: Progress) -> list[ImportReport]:
    return [import_events(store, path / "events.csv", progress=progress)]


@dataset("industrial", "amazon_industrial_text")
def _industrial(store: Store, path: Path, progress: Progress) -> list[ImportReport]:
    """Items from items.json; events rebuilt from valid.csv and test.csv, whose rows are sliding windows
    (a user's last <= 10 items, then the next item). The data has no times, so event k of a user is stamped
    day k after 2000-01-01: the order is real, the dates are not."""
    items = json.loads((path / "items.json").read_text(encoding="utf-8"))
    epoch = dt.datetime(2000, 1, 1)
    with tempfile.TemporaryDirectory(prefix="igcore-industrial-") as tmp:
        items_csv, events_csv = Path(tmp) / "industrial_items.csv", Path(tmp) / "industrial_events.csv"
        with items_csv.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["item_id", "title", "brand", "description", "categories"])
            for item_id, meta in items.items():
                w.writerow([item_id, meta.get("title", ""), meta.get("brand", ""), meta.get("description", ""),
                            meta.get("categories", "")])
        with events_csv.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["user_id", "item_id", "timestamp"])
            for user, sequence in _window_sequences([path / "valid.csv", path / "test.csv"]).items():
                for k, item_id in enumerate(sequence):
                    w.writerow([user, item_id, (epoch + dt.timedelta(days=k)).isoformat()])
        return [import_items(store, items_csv, progress=progress),
                import_events(store, events_csv, config=IngestConfig(default_event_type="review"),
                              progress=progress)]


def _window_sequences(files: list[Path]) -> dict[str, list[str]]:
    """Each user's whole sequence from rows of (history window, next item), read in file order."""
    sequences: dict[str, list[str]] = {}
    for file in files:
        with file.open(newline="", encoding="utf-8") as src:
            for row in csv.DictReader(src):
                history = [str(i) for i in ast.literal_eval(row["history_item_id"])]  # a literal, never code
                seq = sequences.setdefault(row["user_id"], [])
                if not seq:
                    seq.extend(history)
                elif history and seq[-len(history):] != history:
                    raise IgcoreError(f"{file.name}: user {row['user_id']}'s windows do not chain")
                seq.append(str(row["item_id"]))
    return sequences
