"""The store a command line names: ``--db`` (default ``$IGCORE_DB`` or data/igcore.duckdb), with its events read
from a Parquet export folder instead of its table when the command takes ``--events DIR``
(:mod:`igcore.eventlog`). Shared by every command module so that each opens stores the same way."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from igcore.store import Store

EVENTS_HELP = "read the events from this Parquet export folder (igcore export --parquet) instead of the store"


def open_store(args: argparse.Namespace, read_only: bool = False) -> Store:
    """The named store (read-only only where it exists: a missing store is created empty), reading its events
    from ``args.event_log`` (``--events DIR``) where the command has that option and it is set."""
    from igcore.store import Store

    store = Store(args.db, read_only=read_only and Path(args.db or "").exists())
    if getattr(args, "event_log", None):
        from igcore.eventlog import use_event_log

        try:
            use_event_log(store, Path(args.event_log))
        except BaseException:
            store.close()
            raise
    return store


def ray_options(cmd: argparse.ArgumentParser, what: str) -> None:
    """``--workers`` and ``--address``: the commands that run on Ray (:mod:`igcore.cluster`)."""
    cmd.add_argument("--workers", type=int, default=1, help=f"{what} on Ray (needs pip install -e '.[distributed]')")
    cmd.add_argument("--address", help="Ray cluster to run on, e.g. ray://HOST:10001 (default: a local one)")


def cluster_of(args: argparse.Namespace):
    """The Ray cluster a command runs on: None (this process) unless --workers > 1 or --address is given."""
    if args.workers <= 1 and not args.address:
        return None
    from igcore.cluster import RayCluster

    return RayCluster(args.workers, args.address, getattr(args, "storage", None))
