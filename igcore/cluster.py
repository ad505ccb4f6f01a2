"""Where work runs beyond this process: a Ray cluster (``--workers N [--address ray://HOST:PORT]``).

Data-parallel training (:mod:`igcore.pipeline.ray_train`), batch scoring (:mod:`igcore.pipeline.batch`) and
snapshot building (:mod:`igcore.interests.snapshots`) take a :class:`RayCluster` and run on it through
:func:`connected`. Without an address a local Ray instance is started for the run and stopped after it; its
workers run at normal priority (Ray lowers its workers' priority by default, which starves them beside any other
busy process). Ray is an optional extra: ``pip install -e '.[distributed]'``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

from igcore.errors import IgcoreError


@dataclasses.dataclass(frozen=True)
class RayCluster:
    """``workers`` Ray workers on the cluster at ``address`` (None: a local one started for the run); training
    hands weights back through ``storage`` (None: a local temporary folder; on a cluster of several nodes, a
    shared folder or a URI such as ``s3://bucket/runs`` that every node reaches)."""

    workers: int = 2
    address: str | None = None
    storage: str | None = None


@contextlib.contextmanager
def connected(cluster: RayCluster) -> Iterator[Any]:
    """The ``ray`` module, connected to the cluster at ``cluster.address`` or to a local instance started with a
    CPU per worker (or one per core, if more); a connection this call made is closed on the way out, which stops a
    local instance, and one already open is used as it is. Ray missing is a clear error naming the extra."""
    if cluster.workers < 1:
        raise IgcoreError(f"--workers must be at least 1, not {cluster.workers}")
    try:
        import ray
        import ray.data
        import ray.train  # noqa: F401  (the extra installs ray[train]: a partial install fails here)
    except ImportError as e:
        raise IgcoreError("Ray needs the distributed extra: pip install -e '.[distributed]'") from e
    if ray.is_initialized():
        yield ray
        return
    if cluster.address:
        ray.init(address=cluster.address, log_to_driver=False)
    else:
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(num_cpus=max(cluster.workers, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
