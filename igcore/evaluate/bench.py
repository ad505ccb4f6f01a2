"""``igcore bench quality``: every named model on one split of one dataset, in one process, written to
``bench/results/<dataset>-<protocol>.json`` and the matching table of ``docs/BENCHMARKS.md``."""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from igcore.benchio import WORK, locked, machine, read_json, today, write_json, write_section
from igcore.datasets import DATASETS, load_dataset
from igcore.errors import IgcoreError
from igcore.evaluate.protocols import PROTOCOLS, EvalConfig, fit, measure
from igcore.evaluate.registry import DEFAULT_MODELS, MODELS, SEEDED, ModelContext, resolve_model
from igcore.evaluate.splits import Split, leave_one_out, temporal_split
from igcore.events import Interactions, load_interactions
from igcore.ingest import import_events
from igcore.store import Store

Log = Callable[[str], None]


def dataset_interactions(dataset: str, log: Log = print) -> tuple[str, Path, Interactions]:
    """A named dataset (cached as bench/.work/NAME.duckdb), a .duckdb store, or an events CSV."""
    path = Path(dataset)
    if dataset in DATASETS:
        name, db = dataset, WORK / f"{dataset}.duckdb"
        if not db.exists():
            WORK.mkdir(parents=True, exist_ok=True)
            log(f"loading {dataset} into {db}")
            with Store(db) as store:
                load_dataset(store, dataset)
    elif path.suffix == ".duckdb" and path.exists():
        name, db = path.stem, path
    elif path.exists():
        name, db = path.stem.split(".")[0], WORK / f"{path.stem.split('.')[0]}.duckdb"
        WORK.mkdir(parents=True, exist_ok=True)
        with Store(db) as store:
            import_events(store, path)
    else:
        raise IgcoreError(f"unknown dataset {dataset!r}: a name ({', '.join(DATASETS)}), a .duckdb or a CSV path")
    with Store(db, read_only=True) as store:
        return name, db, load_interactions(store)


def make_split(data: Interactions, protocol: str) -> Split:
    if protocol not in PROTOCOLS:
        raise IgcoreError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    return leave_one_out(data) if protocol == "loo" else temporal_split(data)


def eval_configs(protocol: str) -> dict[str, EvalConfig]:
    """Rows to run per model. LOO ranks with the user's history excluded (the published protocol) and without;
    temporal and stream rank everything (shoppers do re-view and re-buy), with the excluded variant beside;
    stream also runs frozen (no online updates) so dynamic against frozen is one table."""
    if protocol == "loo":
        return {"": EvalConfig("loo", exclude_seen=(True, False))}
    if protocol == "temporal":
        return {"": EvalConfig("temporal", exclude_seen=(False, True))}
    return {"": EvalConfig("stream", exclude_seen=(False, True)),
            " (frozen)": EvalConfig("stream", exclude_seen=(False, True), frozen=True)}


def run_quality(dataset: str, protocol: str, models: list[str] | None = None, seeds: int = 1,
                device: str = "auto", log: Log = print) -> dict:
    models = models or DEFAULT_MODELS
    for m in models:
        resolve_model(m)
    t_start = time.perf_counter()
    name, db, data = dataset_interactions(dataset, log)
    split = make_split(data, protocol)
    log(f"{name}: {len(data):,} events, {data.n_users:,} users, {data.n_items:,} items; split {protocol}: "
        f"train {len(split.train):,}, valid {len(split.valid):,}, test {len(split.test):,}")
    configs = eval_configs(protocol)
    for model_name in models:
        t_model = time.perf_counter()
        runs: dict[str, list[dict]] = {suffix: [] for suffix in configs}
        for seed in range(seeds if model_name in SEEDED else 1):
            model = resolve_model(model_name)(ModelContext(seed, device, next(iter(configs.values())).exclude_seen[0],
                                                           db))
            train_s = fit(model, split)  # once per seed; each row measures its own copy of the fitted model
            for suffix, config in configs.items():
                result = measure(copy.deepcopy(model) if len(configs) > 1 else model, split, config)
                result.update(train_s=train_s, params=_params(model), curve=_curve(model))
                runs[suffix].append(result)
                head = result["variants"][_headline_variant(config)]
                log(f"  {model_name}{suffix} seed {seed}: ndcg@10 {head['ndcg@10']:.4f} hr@10 {head['hr@10']:.4f} "
                    f"train {train_s:.0f}s eval {result['eval_s']:.0f}s")
        wall_s = round(time.perf_counter() - t_model, 1)
        out = _save(name, protocol, split, {model_name + suffix: {**_aggregate(runs[suffix], config), "date": today(),
                                                                  "machine": machine(), "wall_s": wall_s}
                                            for suffix, config in configs.items()})
    log(f"whole run {(time.perf_counter() - t_start) / 60:.1f} min")
    return out


def _save(name: str, protocol: str, split, rows: dict[str, dict]) -> dict:
    """Merge one model's finished rows into the dataset's JSON and table at once, so an interrupted run keeps
    what it finished and parallel runs over one dataset see each other's rows."""
    out = {"dataset": name, "protocol": protocol, "machine": machine(),
           "split": {"train": len(split.train), "valid": len(split.valid), "test": len(split.test), **split.info},
           "headline": _headline_variant(next(iter(eval_configs(protocol).values()))), "models": rows}
    with locked(f"{name}-{protocol}"):
        out = merge_rows(read_json(f"{name}-{protocol}"), out)
        write_json(f"{name}-{protocol}", out)
        write_section(f"quality-{name}-{protocol}", render_table(out))
    return out


def merge_rows(previous: dict | None, new: dict) -> dict:
    """Rows of a new run replace rows of the same model and join the others, so models can be run in separate
    (parallel) processes into one table; rows measured on a different split are dropped, never mixed."""
    if not previous or previous.get("split") != new["split"]:
        previous = {"models": {}}
    models = {**previous["models"], **new["models"]}
    order = {name: i for i, name in enumerate(MODELS)}  # the table lists rows in registry order
    ranked = sorted(models, key=lambda row: (order.get(row.split(" (")[0], len(order)), row))
    return {**new, "models": {row: models[row] for row in ranked}}


def _headline_variant(config: EvalConfig) -> str:
    return "history_excluded" if config.exclude_seen[0] else "nothing_excluded"


def _params(model) -> int:
    for attr in ("net", "model"):
        module = getattr(model, attr, None)
        if module is not None and hasattr(module, "parameters"):
            return int(sum(p.numel() for p in module.parameters()))
    return 0


def _curve(model) -> list[list[float]]:
    """[epoch, validation NDCG@10] of each validated epoch of a trained model (none for the baselines): what
    an early-stopping setting would have seen, so another patience can be judged without re-running."""
    return [[e["epoch"], round(e["valid_ndcg@10"], 5)] for e in getattr(model, "log", []) if "valid_ndcg@10" in e]


def _aggregate(runs: list[dict], config: EvalConfig) -> dict:
    """Headline metrics (mean over seeds, with _std), the other variant under its name, times, params."""
    headline = _headline_variant(config)
    row: dict = {}
    for variant in runs[0]["variants"]:
        values = {k: [r["variants"][variant][k] for r in runs] for k in runs[0]["variants"][variant]
                  if k != "segments"}
        summary = {k: (statistics.fmean(v) if v[0] is not None else None) for k, v in values.items()}
        if len(runs) > 1:
            summary.update({f"{k}_std": statistics.stdev(values[k]) for k in ("ndcg@10", "hr@10")
                            if values[k][0] is not None})
        summary["segments"] = runs[0]["variants"][variant]["segments"]
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
    return row


def render_table(out: dict) -> str:
    other = "nothing_excluded" if out["headline"] == "history_excluded" else "history_excluded"
    machines = {row.get("machine") for row in out["models"].values()}
    where = f"{out['machine']}" if machines == {out["machine"]} else \
        f"machines as each row says (the latest run: {out['machine']})"
    lines = [
        f"## {out['dataset']} · {out['protocol']}",
        "",
        f"{where} · each row from `igcore bench quality --dataset {out['dataset']} --protocol "
        f"{out['protocol']} --models NAME... --seeds N` (a rerun replaces its rows); seeded models give the mean "
        "± standard deviation over seeds.",
        "",
        f"Full-catalogue ranking; headline: {out['headline'].replace('_', ' ')}; last two columns: "
        f"{other.replace('_', ' ')}. Split: {json.dumps(out['split'])}",
        "",
        "| model | NDCG@10 | HR@10 | NDCG@20 | HR@20 | MRR | coverage@10 | train s | eval s | "
        f"NDCG@10 ({other.split('_')[0]} excl.) | HR@10 ({other.split('_')[0]} excl.) | seeds | date | machine |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, row in out["models"].items():
        def fmt(key: str, src: dict = row) -> str:
            v = src.get(key)
            if v is None:
                return "–"
            std = src.get(f"{key}_std")
            return f"{v:.4f}" + (f" ± {std:.4f}" if std is not None else "")
        lines.append(f"| {name} | {fmt('ndcg@10')} | {fmt('hr@10')} | {fmt('ndcg@20')} | {fmt('hr@20')} | "
                     f"{fmt('mrr')} | {fmt('coverage@10')} | {row['train_s']:.0f} | {row['eval_s']:.0f} | "
                     f"{fmt('ndcg@10', row[other])} | {fmt('hr@10', row[other])} | {row['seeds_run']} | "
                     f"{row['date']} | {row.get('machine', 'not recorded').split(',')[0]} |")
    return "\n".join(lines)
