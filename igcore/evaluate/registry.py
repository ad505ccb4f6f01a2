"""Models of the evaluation harness by name: one resolver, a clear error listing the valid names.

A factory takes a :class:`ModelContext` (seed, device, protocol, the dataset's store for side information, the
run's setting overrides) and returns a fresh :class:`Recommender`. A trained model's factory builds its dataclass
config with :meth:`ModelContext.config`, so ``--set`` and ``--budget`` reach every model the same way;
:func:`build_model` refuses a factory that drops them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from igcore.config import with_overrides
from igcore.errors import IgcoreError
from igcore.evaluate.baselines import ItemKNN, Markov, MostPop, RecencyPop
from igcore.evaluate.recommender import Recommender

C = TypeVar("C")


@dataclasses.dataclass(frozen=True)
class ModelContext:
    seed: int = 0
    device: str = "auto"
    exclude_seen: bool = True  # how the protocol's headline ranks: early stopping ranks the same way
    store_path: Path | None = None  # the dataset's store: catalogue text and attributes
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # --set KEY=VALUE, --budget
    events_dir: Path | None = None  # a Parquet export of the store's events to read instead of its table

    def config(self, cls: type[C], **fixed: Any) -> C:
        """``cls``'s defaults < the harness's settings (``fixed``: seed, device, ...) < this run's overrides;
        an unknown key is an :class:`IgcoreError` listing ``cls``'s settings."""
        try:
            return with_overrides(cls(**fixed), dict(self.overrides))
        except IgcoreError as exc:
            raise IgcoreError(f"{cls.__name__}: {exc}") from exc


def _sasrec(ctx: ModelContext) -> Recommender:
    from igcore.evaluate.sasrec import SASRec, SASRecConfig

    return SASRec(ctx.config(SASRecConfig, seed=ctx.seed, device=ctx.device, valid_exclude_seen=ctx.exclude_seen))


def _sasrecf(ctx: ModelContext) -> Recommender:
    from igcore.encode.side import side_info
    from igcore.evaluate.sasrec import SASRecConfig
    from igcore.evaluate.sasrecf import SASRecF

    side = side_info(ctx.store_path, ctx.device) if ctx.store_path is not None else None
    return SASRecF(ctx.config(SASRecConfig, seed=ctx.seed, device=ctx.device, valid_exclude_seen=ctx.exclude_seen),
                   side=side)


def _bsarec(ctx: ModelContext) -> Recommender:
    from igcore.evaluate.bsarec import BSARec, BSARecConfig

    return BSARec(ctx.config(BSARecConfig, seed=ctx.seed, device=ctx.device, valid_exclude_seen=ctx.exclude_seen))


def _lightgcn(ctx: ModelContext) -> Recommender:
    from igcore.evaluate.lightgcn import LightGCN, LightGCNConfig

    return LightGCN(ctx.config(LightGCNConfig, seed=ctx.seed, device=ctx.device))


def _igcore(overrides: dict[str, bool], ctx: ModelContext) -> Recommender:
    from igcore.encode.side import side_info
    from igcore.pipeline.config import PipelineConfig
    from igcore.pipeline.model import IgcoreRecommender

    config = ctx.config(PipelineConfig, seed=ctx.seed, device=ctx.device, valid_exclude_seen=ctx.exclude_seen,
                        **overrides)
    side = side_info(ctx.store_path, ctx.device, with_text=config.use_text) if ctx.store_path is not None else None
    return IgcoreRecommender(config, side=side)


def _igcore_dp(ctx: ModelContext) -> Recommender:
    from igcore.dp.recommender import PrivateConfig, PrivateSequenceRecommender
    from igcore.encode.side import side_info

    config = ctx.config(PrivateConfig, seed=ctx.seed, device=ctx.device, valid_exclude_seen=ctx.exclude_seen)
    side = side_info(ctx.store_path, ctx.device, with_text=config.use_text) if ctx.store_path is not None else None
    return PrivateSequenceRecommender(config, side=side)


BASELINES: dict[str, Callable[[ModelContext], Recommender]] = {
    "MostPop": lambda ctx: MostPop(),
    "RecencyPop": lambda ctx: RecencyPop(),
    "ItemKNN": lambda ctx: ItemKNN(),
    "Markov": lambda ctx: Markov(),
    "LightGCN": _lightgcn,
    "SASRec": _sasrec,
    "SASRecF": _sasrecf,
    "BSARec": _bsarec,
}


def _pipeline_rows() -> dict[str, Callable[[ModelContext], Recommender]]:
    from igcore.pipeline.config import ABLATIONS

    return {name: functools.partial(_igcore, overrides) for name, overrides in ABLATIONS.items()}


MODELS: dict[str, Callable[[ModelContext], Recommender]] = {**BASELINES, **_pipeline_rows(),
                                                             "igcore-dp": _igcore_dp}  # user-level DP-SGD
DEFAULT_MODELS = list(BASELINES)
SEEDED = {"LightGCN", "SASRec", "SASRecF", "BSARec", "igcore-dp",
          *_pipeline_rows()}  # the others are deterministic: one run whatever --seeds says


def resolve_model(name: str) -> Callable[[ModelContext], Recommender]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, ctx: ModelContext) -> Recommender:
    """A fresh model ``name`` for ``ctx``; an error when its factory left out ``ctx``'s overrides, so a row
    named with settings was trained with them."""
    model = resolve_model(name)(ctx)
    cfg = getattr(model, "cfg", None)
    if ctx.overrides and cfg is None:
        raise IgcoreError(f"{name} has no settings to override")
    if ctx.overrides and with_overrides(cfg, dict(ctx.overrides)) != cfg:
        raise IgcoreError(f"{name} ignores settings: its factory must build its config with ModelContext.config")
    return model
