"""Checkpoints: safetensors weights + a JSON config, written atomically; loading never unpickles.

A checkpoint folder holds ``weights.safetensors`` and ``model.json`` (pipeline config, user/item/type ids, the
import ids of the data it was trained on, the training log). The online state's tensors (memory, cached item
tables) are saved beside them (``online.safetensors``, :mod:`igcore.update.saved`), and what scoring needs of
that state (``serving.safetensors``, :mod:`igcore.recommend.serving`); histories and graph edges are read back
from the store's events. ``model.json`` carries a format number: a checkpoint of an older network
is refused with a message to retrain, never half-loaded. torch is imported only to read or write weights, so
that reading a checkpoint's ids and config costs no torch import.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igcore.errors import IgcoreError
from igcore.pipeline.config import PipelineConfig
from igcore.recommend.serving import SERVING, ServingState
from igcore.update.saved import ONLINE, SavedOnline

if TYPE_CHECKING:
    import torch

WEIGHTS, META = "weights.safetensors", "model.json"
FORMAT = 4  # bumped when the network's weights change meaning or names (4: a trained memory, interests)


def save_checkpoint(path: str | Path, weights: dict[str, torch.Tensor], config: PipelineConfig,
                    meta: dict[str, Any], serving: ServingState | None = None,
                    online: SavedOnline | None = None) -> Path:
    """Write to a temporary folder beside ``path``, then swap it in: a crash leaves the old one or none."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        save_file(weights, str(tmp / WEIGHTS))
        record = {"format": FORMAT, "config": dataclasses.asdict(config), **meta}
        (tmp / META).write_text(json.dumps(record, indent=1, default=str))
        if serving is not None:
            serving.save(tmp / SERVING)
        if online is not None:
            online.save(tmp / ONLINE)
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def has_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` holds a checkpoint (of any format: :func:`read_meta` says whether it can be used)."""
    return (Path(path) / META).exists() and (Path(path) / WEIGHTS).exists()


def read_meta(path: str | Path) -> tuple[PipelineConfig, dict[str, Any]]:
    """A checkpoint's config and ``model.json`` record (ids, import ids, training log), without its weights."""
    path = Path(path)
    if not has_checkpoint(path):
        raise IgcoreError(f"no model checkpoint at {path}: train one with `igcore train`")
    meta = json.loads((path / META).read_text())
    if meta.pop("format", 1) != FORMAT:
        raise IgcoreError(f"the model at {path} was saved by an older igcore whose network differs: train it "
                          "again (`igcore train` or the Pipeline page)")
    fields = {f.name for f in dataclasses.fields(PipelineConfig)}
    config = PipelineConfig(**{k: v for k, v in meta.pop("config").items() if k in fields})
    return config, meta


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors (call :func:`read_meta` first: it checks the folder and its format)."""
    from safetensors.torch import load_file

    return load_file(str(Path(path) / WEIGHTS))
