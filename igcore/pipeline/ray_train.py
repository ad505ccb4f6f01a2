"""Data-parallel training of the pipeline on Ray Train (``igcore train --workers N [--address ray://HOST:PORT]``).

Ray Train's ``TorchTrainer`` starts N workers joined by a torch.distributed process group. Each builds the same
model from the training log it is sent and trains the windows of its own users (:mod:`igcore.pipeline.workers`:
disjoint shards, gradients averaged by DistributedDataParallel, one early-stopping verdict). Worker 0 writes
the best epoch's weights as safetensors into the run's storage, where the caller reads them back (nothing is
unpickled from it); the caller then rebuilds the online state from every event, as single-process training does.

Where it runs is :mod:`igcore.cluster`'s: a local instance started for the run, or the cluster at an address,
where ``storage`` must be a folder or URI every node can reach.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from igcore.cluster import RayCluster, connected
from igcore.encode.side import SideInfo
from igcore.errors import IgcoreError
from igcore.events import Interactions
from igcore.pipeline.config import PipelineConfig

if TYPE_CHECKING:
    import torch

WEIGHTS = "weights.safetensors"


@dataclasses.dataclass(frozen=True)
class RayFit:
    """What a Ray training run hands back: the learned weights, the epoch log, and each worker's user count."""

    weights: dict[str, torch.Tensor]
    log: list[dict]
    users_per_worker: list[int]


def train_on_ray(config: PipelineConfig, side: SideInfo, train: Interactions, valid: Interactions | None,
                 cluster: RayCluster) -> RayFit:
    """Train the pipeline's network with the cluster's data-parallel Ray workers (see the module docstring)."""
    from safetensors.torch import load_file

    with connected(cluster), tempfile.TemporaryDirectory(prefix="igcore-ray-") as local:
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer

        trainer = TorchTrainer(
            _worker, train_loop_config={"config": config, "side": side, "train": train, "valid": valid},
            scaling_config=ScalingConfig(num_workers=cluster.workers, use_gpu=_wants_gpu(config)),
            run_config=RunConfig(storage_path=cluster.storage or local, name="igcore-train"))
        try:
            result = trainer.fit()
        except Exception as e:  # a worker's error arrives wrapped; its message is the useful part
            raise IgcoreError(f"training on Ray failed: {e}") from e
        with result.checkpoint.as_directory() as folder:
            weights = load_file(Path(folder) / WEIGHTS)
        return RayFit(weights, list(result.metrics["log"]), list(result.metrics["users_per_worker"]))


def _wants_gpu(config: PipelineConfig) -> bool:
    import torch

    return config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())


def _worker(loop: dict[str, Any]) -> None:
    """One Ray worker: train its shard, then (worker 0) hand the weights and the log back."""
    import ray.train
    import ray.train.torch
    from safetensors.torch import save_file

    from igcore.pipeline.model import IgcoreRecommender
    from igcore.pipeline.workers import Workers

    context = ray.train.get_context()
    device = ray.train.torch.get_device()
    workers = Workers(context.get_world_rank(), context.get_world_size(), str(device))
    train: Interactions = loop["train"]
    model = IgcoreRecommender(dataclasses.replace(loop["config"], device=str(device)), loop["side"])
    model.fit(train, loop["valid"], final_state=False, workers=workers)
    mine = int(workers.owns(np.unique(train.user)).sum())
    metrics = {"log": model.log, "users_per_worker": workers.each(mine)}
    with tempfile.TemporaryDirectory() as folder:
        if workers.rank == 0:
            save_file(model.weights(), str(Path(folder) / WEIGHTS))
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))
        else:
            ray.train.report(metrics)
