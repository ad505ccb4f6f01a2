"""Models of the evaluation harness by name: one resolver, a clear error listing the valid names.

A factory takes a :class:`ModelContext` (seed, device, protocol, the dataset's store for side information)
and returns a fresh :class:`Recommender`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

from igcore.evaluate.baselines import ItemKNN, Markov, MostPop, RecencyPop
from igcore.evaluate.recommender import Recommender


@dataclasses.dataclass(frozen=True)
class ModelContext:
    seed: int = 0
    device: str = "auto"
    exclude_seen: bool = True  # how the protocol's headline ranks: early stopping ranks the same way
    store_path: Path | None = None  # the dataset's store: catalogue text and attributes


def _sasrec(ctx: ModelContext) -> Recommender:
    from igcore.evaluate.sasrec import SASRec

    return SASRec(seed=ctx.seed, device=ctx.device, valid_exclude_seen=ctx.exclude_seen)


def _bsarec(ctx: ModelContext) -> Recommender:
    from igcore.evaluate.bsarec import BSARec

    return BSARec(seed=ctx.seed, device=ctx.device, valid_exclude_seen=ctx.exclude_seen)


def _lightgcn(ctx: ModelContext) -> Recommender:
    from igcore.evaluate.lightgcn import LightGCN

    return LightGCN(seed=ctx.seed, device=ctx.device)


def _igcore(overrides: dict[str, bool], ctx: ModelContext) -> Recommender:
    from igcore.encode.side import side_info
    from igcore.pipeline.model import IgcoreRecommender

    with_text = overrides.get("use_text", True)
    side = side_info(ctx.store_path, ctx.device, with_text=with_text) if ctx.store_path is not None else None
    return IgcoreRecommender(side=side, seed=ctx.seed, device=ctx.device, valid_exclude_seen=ctx.exclude_seen,
                             **overrides)


BASELINES: dict[str, Callable[[ModelContext], Recommender]] = {
    "MostPop": lambda ctx: MostPop(),
    "RecencyPop": lambda ctx: RecencyPop(),
    "ItemKNN": lambda ctx: ItemKNN(),
    "Markov": lambda ctx: Markov(),
    "LightGCN": _lightgcn,
    "SASRec": _sasrec,
    "BSARec": _bsarec,
}


def _pipeline_rows() -> dict[str, Callable[[ModelContext], Recommender]]:
    from igcore.pipeline.config import ABLATIONS

    return {name: functools.partial(_igcore, overrides) for name, overrides in ABLATIONS.items()}


MODELS: dict[str, Callable[[ModelContext], Recommender]] = {**BASELINES, **_pipeline_rows()}
DEFAULT_MODELS = list(BASELINES)
SEEDED = {"LightGCN", "SASRec", "BSARec",
          *_pipeline_rows()}  # the others are deterministic: one run whatever --seeds says


def resolve_model(name: str) -> Callable[[ModelContext], Recommender]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return MODELS[name]
