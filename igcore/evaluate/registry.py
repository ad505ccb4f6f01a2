"""Models of the evaluation harness by name: one resolver, a clear error listing the valid names."""

from __future__ import annotations

from collections.abc import Callable

from igcore.evaluate.baselines import ItemKNN, Markov, MostPop, RecencyPop
from igcore.evaluate.recommender import Recommender


def _sasrec(seed: int, device: str) -> Recommender:
    from igcore.evaluate.sasrec import SASRec

    return SASRec(seed=seed, device=device)


def _lightgcn(seed: int, device: str) -> Recommender:
    from igcore.evaluate.lightgcn import LightGCN

    return LightGCN(seed=seed, device=device)


MODELS: dict[str, Callable[[int, str], Recommender]] = {
    "MostPop": lambda seed, device: MostPop(),
    "RecencyPop": lambda seed, device: RecencyPop(),
    "ItemKNN": lambda seed, device: ItemKNN(),
    "Markov": lambda seed, device: Markov(),
    "LightGCN": _lightgcn,
    "SASRec": _sasrec,
}
SEEDED = {"LightGCN", "SASRec"}  # the others are deterministic: one run whatever --seeds says


def resolve_model(name: str) -> Callable[[int, str], Recommender]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return MODELS[name]
