"""Checkpoints: safetensors weights + a JSON config, written atomically; loading never unpickles.

A checkpoint folder holds ``weights.safetensors`` and ``model.json`` (pipeline config, user/item/type ids, the
import ids of the data it was trained on, the training log). The online state (histories, graph, memory) is
not saved: it is replayed from the store's events, which is exact and keeps checkpoints small.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from igcore.errors import IgcoreError
from igcore.pipeline.config import PipelineConfig

WEIGHTS, META = "weights.safetensors", "model.json"


def save_checkpoint(path: str | Path, weights: dict[str, torch.Tensor], config: PipelineConfig,
                    meta: dict[str, Any]) -> Path:
    """Write to a temporary folder beside ``path``, then swap it in: a crash leaves the old one or none."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        save_file(weights, str(tmp / WEIGHTS))
        (tmp / META).write_text(json.dumps({"config": dataclasses.asdict(config), **meta}, indent=1, default=str))
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> tuple[PipelineConfig, dict[str, Any], dict[str, torch.Tensor]]:
    path = Path(path)
    if not (path / META).exists() or not (path / WEIGHTS).exists():
        raise IgcoreError(f"no model checkpoint at {path}: train one with `igcore train`")
    meta = json.loads((path / META).read_text())
    fields = {f.name for f in dataclasses.fields(PipelineConfig)}
    config = PipelineConfig(**{k: v for k, v in meta.pop("config").items() if k in fields})
    return config, meta, load_file(str(path / WEIGHTS))
