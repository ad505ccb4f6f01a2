"""Benchmark rows: their names, what one trained run cost, seeds folded into one row, and rows merged into a
results file. Pure functions over plain dicts, so they are tested without training anything."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

from igcore.errors import IgcoreError
from igcore.evaluate.protocols import EvalConfig

# Cost of a trained row, always these keys (None where a model cannot say): seconds per epoch and per training
# position seen, epochs run, the epoch whose weights were kept, whether the time cap ended training, the peak
# resident memory of the process that trained and measured the model alone, and what else ran meanwhile.
COST_KEYS = ("s_per_epoch", "s_per_position", "positions", "epochs", "best_epoch", "capped", "peak_rss_mb",
             "concurrency")


def row_name(model: str, overrides: Mapping[str, Any] | None = None, budget: float | None = None,
             pop_penalty: float | None = None) -> str:
    """``SASRec``, ``igcore[gnn=lightgcn]``, ``SASRec[budget=600,dim=64]``, ``ItemKNN[rerank_pop=0.5]``: a run
    with settings (or a re-ranking) of its own gets a row of its own (sorted keys), never the default row."""
    settings = {str(k): str(v) for k, v in (overrides or {}).items()}
    if budget is not None:
        settings["budget"] = format_seconds(budget)
    if pop_penalty is not None:
        settings["rerank_pop"] = format_seconds(pop_penalty)
    if not settings:
        return model
    return f"{model}[{','.join(f'{k}={v}' for k, v in sorted(settings.items()))}]"


def run_settings(overrides: Mapping[str, Any] | None, budget: float | None) -> dict[str, Any]:
    """``--set`` pairs and ``--budget`` as one overrides mapping for the trained models' configs: the budget is
    every model's ``max_train_s`` (0: no cap at all)."""
    settings = dict(overrides or {})
    if budget is not None:
        if "max_train_s" in settings:
            raise IgcoreError("give --budget or --set max_train_s, not both")
        if not budget >= 0:
            raise IgcoreError(f"--budget {budget}: seconds, 0 or more (0 = no cap)")
        settings["max_train_s"] = budget if budget > 0 else math.inf
    return settings


def format_seconds(value: float) -> str:
    """600.0 -> ``600``, 0.5 -> ``0.5``: as a person types a budget (or any number in a row's name)."""
    return str(int(value)) if float(value).is_integer() else str(value)


def base_model(row: str) -> str:
    """The registry name a row was run from: ``SASRec[dim=64] (frozen)`` -> ``SASRec``."""
    return row.split(" (")[0].split("[")[0]


def headline_variant(config: EvalConfig) -> str:
    return "history_excluded" if config.exclude_seen[0] else "nothing_excluded"


def params(model: Any) -> int:
    for attr in ("net", "model"):
        module = getattr(model, attr, None)
        if module is not None and hasattr(module, "parameters"):
            return int(sum(p.numel() for p in module.parameters()))
    return 0


def curve(model: Any) -> list[list[float]]:
    """[epoch, validation NDCG@10] of each validated epoch of a trained model (none for the baselines): what
    an early-stopping setting would have seen, so another patience can be judged without re-running."""
    return [[e["epoch"], round(e["valid_ndcg@10"], 5)] for e in getattr(model, "log", []) if "valid_ndcg@10" in e]


def training_cost(log: list[dict], train_s: float) -> dict[str, Any]:
    """Cost keys readable from a training log (``igcore.pipeline.training.fit_with_early_stopping``'s entries)
    and the fit's seconds. The best epoch is the first with the highest validation score (the one whose weights
    the loop keeps), or the last epoch when nothing was validated."""
    positions = sum(int(e.get("positions", 0)) for e in log)
    validated = [e for e in log if "valid_ndcg@10" in e]
    best = max(validated, key=lambda e: e["valid_ndcg@10"]) if validated else (log[-1] if log else None)
    return {"s_per_epoch": train_s / len(log) if log else None,
            "s_per_position": train_s / positions if positions else None,
            "positions": positions, "epochs": len(log), "best_epoch": best["epoch"] if best else None,
            "capped": any(e.get("capped", False) for e in log)}


def aggregate(runs: list[dict], config: EvalConfig) -> dict:
    """Headline metrics (mean over seeds, with _std; the group tables, segments and activity, of the first
    seed), the other variant under its name, times, params; for a trained model its cost (means over seeds;
    capped if any seed was; the highest memory and concurrency)."""
    headline = headline_variant(config)
    row: dict = {}
    for variant in runs[0]["variants"]:
        first = runs[0]["variants"][variant]
        values = {k: [r["variants"][variant][k] for r in runs] for k, v in first.items() if not isinstance(v, dict)}
        summary = {k: (statistics.fmean(v) if v[0] is not None else None) for k, v in values.items()}
        if len(runs) > 1:
            summary.update({f"{k}_std": statistics.stdev(values[k]) for k in ("ndcg@10", "hr@10")
                            if values[k][0] is not None})
        summary.update({k: v for k, v in first.items() if isinstance(v, dict)})  # segments, activity: seed 0's
        if variant == headline:
            row.update(summary)
        else:
            row[variant] = summary
    row["train_s"] = statistics.fmean(r["train_s"] for r in runs)
    row["eval_s"] = statistics.fmean(r["eval_s"] for r in runs)
    row["params"] = runs[0]["params"]
    row["seeds_run"] = len(runs)
    if any(r["curve"] for r in runs):
        row["curves"] = [r["curve"] for r in runs]
    if runs[0]["valid"]:
        row["valid_ndcg@10"] = statistics.fmean(r["valid"]["ndcg@10"] for r in runs)
    if "cost" in runs[0]:
        row.update(_fold_costs([r["cost"] for r in runs]))
    if "decoder" in runs[0]:  # the decoder's weights (igcore.evaluate.decoder), each a mean over seeds
        row["decoder"] = {part: {k: round(statistics.fmean(r["decoder"][part][k] for r in runs), 4) for k in keys}
                          for part, keys in runs[0]["decoder"].items()}
    if "privacy" in runs[0]:
        row["privacy"] = [r["privacy"] for r in runs]  # each seed's spend: a capped run spends less
    return row


def _fold_costs(costs: list[dict]) -> dict[str, Any]:
    def mean(key: str) -> float | None:
        values = [c.get(key) for c in costs]
        return statistics.fmean(values) if all(v is not None for v in values) else None

    out: dict[str, Any] = {key: mean(key) for key in ("s_per_epoch", "s_per_position", "positions", "epochs",
                                                      "best_epoch")}
    if len(costs) == 1:  # one seed: its own figures, integers staying integers
        out.update({key: costs[0].get(key) for key in ("positions", "epochs", "best_epoch")})
    out["capped"] = any(c.get("capped", False) for c in costs)
    rss = [c["peak_rss_mb"] for c in costs if c.get("peak_rss_mb") is not None]
    out["peak_rss_mb"] = max(rss) if rss else None
    seen = [c["concurrency"] for c in costs if c.get("concurrency")]
    out["concurrency"] = {key: max(c[key] for c in seen) for key in seen[0]} if seen else None
    return out


def merge_rows(previous: dict | None, new: dict, order: list[str]) -> dict:
    """Rows of a new run replace rows of the same name and join the others, so models can be run in separate
    (parallel) processes into one table; rows measured on a different split are dropped, never mixed. Rows are
    listed in ``order`` (the registry's) of the model they were run from, a model's variants after it."""
    if not previous or previous.get("split") != new["split"]:
        previous = {"models": {}}
    models = {**previous["models"], **new["models"]}
    rank = {name: i for i, name in enumerate(order)}
    ranked = sorted(models, key=lambda row: (rank.get(base_model(row), len(rank)), row))
    return {**new, "models": {row: models[row] for row in ranked}}
