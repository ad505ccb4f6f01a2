"""``igcore bench quality``: every named model on one split of one dataset (each trained model alone in a child
process), written to ``bench/results/<dataset>-<protocol>.json`` and the matching table of ``docs/BENCHMARKS.md``.

``make_split`` and ``eval_configs`` (:mod:`igcore.evaluate.runner`) are importable from here too, for bench
scripts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from igcore.benchio import WORK, locked, machine, read_json, today, write_json, write_section
from igcore.datasets import DATASETS, load_dataset
from igcore.errors import IgcoreError
from igcore.evaluate.decoder import decoder_table
from igcore.evaluate.exposure import HEAD_SHARE
from igcore.evaluate.registry import DEFAULT_MODELS, MODELS, SEEDED, ModelContext, build_model, resolve_model
from igcore.evaluate.rows import aggregate, headline_variant, merge_rows, row_name, run_settings
from igcore.evaluate.runner import GRAPH_OFF, ModelJob, eval_configs, make_split, run_in_child, run_model
from igcore.evaluate.splits import Split
from igcore.eventlog import export_folder, export_source, use_event_log
from igcore.events import Interactions, load_interactions
from igcore.ingest import import_events
from igcore.store import Store

Log = Callable[[str], None]


def dataset_interactions(dataset: str, log: Log = print) -> tuple[str, Path, Interactions]:
    """A named dataset (cached as bench/.work/NAME.duckdb), a .duckdb store, an events CSV, or a Parquet export
    folder (``igcore export --parquet``: its events, the catalogue of the store it came from)."""
    path = Path(dataset)
    events_dir = export_folder(dataset)
    if events_dir is not None:
        name, db = path.resolve().name, export_source(events_dir)
    elif dataset in DATASETS:
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
        if events_dir is not None:
            use_event_log(store, events_dir)
        return name, db, load_interactions(store)


def run_quality(dataset: str, protocol: str, models: list[str] | None = None, seeds: int = 1,
                device: str = "auto", log: Log = print, budget: float | None = None,
                overrides: Mapping[str, str] | None = None, pop_penalty: float | None = None) -> dict:
    """Every model in ``models`` on one split; ``budget`` (seconds, 0 = no cap) and ``overrides`` (KEY=VALUE
    settings) apply to the trained models, whose rows are then named with them; ``pop_penalty`` re-ranks every
    model's scores (:mod:`igcore.evaluate.rerank`) and names every row with it. Each trained model runs in a
    child process per seed (:func:`igcore.evaluate.runner.run_in_child`); the rest run here."""
    models = models or DEFAULT_MODELS
    settings = check_settings(models, overrides, budget, device)
    t_start = time.perf_counter()
    name, db, data = dataset_interactions(dataset, log)
    split = make_split(data, protocol)
    log(f"{name}: {len(data):,} events, {data.n_users:,} users, {data.n_items:,} items; split {protocol}: "
        f"train {len(split.train):,}, valid {len(split.valid):,}, test {len(split.test):,}")
    configs = eval_configs(protocol, pop_penalty or 0.0)
    if settings and set(models) - SEEDED:
        log(f"settings apply to trained models only: {', '.join(m for m in models if m not in SEEDED)} run as is")
    for model_name in models:
        t_model, seeded = time.perf_counter(), model_name in SEEDED
        row = row_name(model_name, overrides, budget, pop_penalty) if seeded else \
            row_name(model_name, pop_penalty=pop_penalty)
        runs: dict[str, list[dict]] = {}  # by row suffix: a protocol's, with the graph off before it (GRAPH_OFF)
        for seed in range(seeds if seeded else 1):
            ctx = ModelContext(seed, device, next(iter(configs.values())).exclude_seen[0], db,
                               settings if seeded else {}, export_folder(dataset))
            job = ModelJob(model_name, ctx, protocol, pop_penalty or 0.0)
            for suffix, result in (run_in_child(job) if seeded else run_model(job, split)).items():
                runs.setdefault(suffix, []).append(result)
                head = result["variants"][headline_variant(configs[suffix.removeprefix(GRAPH_OFF)])]
                log(f"  {row}{suffix} seed {seed}: ndcg@10 {head['ndcg@10']:.4f} hr@10 {head['hr@10']:.4f} "
                    f"train {result['train_s']:.0f}s{_epochs(result)} eval {result['eval_s']:.0f}s")
        wall_s = round(time.perf_counter() - t_model, 1)
        out = _save(name, protocol, split, {
            row + suffix: {**aggregate(found, configs[suffix.removeprefix(GRAPH_OFF)]), "date": today(),
                           "machine": machine(), "wall_s": wall_s} for suffix, found in runs.items()})
    log(f"whole run {(time.perf_counter() - t_start) / 60:.1f} min")
    return out


def check_settings(models: list[str], overrides: Mapping[str, str] | None, budget: float | None,
                   device: str = "auto") -> dict:
    """The run's settings for trained models (:func:`run_settings`), checked on every model before anything
    is loaded or trained, so a wrong name or key fails at once rather than after hours."""
    for m in models:
        resolve_model(m)
    settings = run_settings(overrides, budget)
    if settings:
        for m in models:
            if m in SEEDED:
                build_model(m, ModelContext(device=device, overrides=settings))  # no store: nothing heavy loaded
    return settings


def _epochs(result: dict) -> str:
    cost = result.get("cost")
    if not cost:
        return ""
    return f" ({cost['epochs']} epochs, best {cost['best_epoch']}{', capped' if cost['capped'] else ''})"


def _save(name: str, protocol: str, split, rows: dict[str, dict]) -> dict:
    """Merge one model's finished rows into the dataset's JSON and table at once, so an interrupted run keeps
    what it finished and parallel runs over one dataset see each other's rows."""
    out = {"dataset": name, "protocol": protocol, "machine": machine(), "split": split_summary(split),
           "headline": headline_variant(next(iter(eval_configs(protocol).values()))), "models": rows}
    with locked(f"{name}-{protocol}"):
        out = merge_rows(read_json(f"{name}-{protocol}"), out, list(MODELS))
        write_json(f"{name}-{protocol}", out)
        write_section(f"quality-{name}-{protocol}", render_table(out))
    return out


def split_summary(split: Split) -> dict:
    return {"train": len(split.train), "valid": len(split.valid), "test": len(split.test), **split.info}


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
        "± standard deviation over seeds; a row run with `--set KEY=VALUE` or `--budget S` is named with them, "
        "e.g. `SASRec[budget=600,dim=64]`.",
        "",
        f"Full-catalogue ranking; headline: {out['headline'].replace('_', ' ')}; the two \"excl.\" columns: "
        f"{other.replace('_', ' ')}. Trained models: epochs run (best kept; \"capped\" when the time budget "
        "ended training), seconds per epoch, peak memory of the process that trained and measured the model "
        f"alone. Split: {json.dumps(out['split'])}",
        "",
        f"Exposure: {EXPOSURE_NOTE} NDCG@10 by user activity: {activity_note(out['models'])}",
        "",
        "| model | NDCG@10 | HR@10 | NDCG@20 | HR@20 | MRR | coverage@10 | Gini@10 | APLT@10 | mean pop@10 | "
        "NDCG@10 light | NDCG@10 medium | NDCG@10 heavy | train s | eval s | epochs (best) | "
        f"s/epoch | peak MB | NDCG@10 ({other.split('_')[0]} excl.) | HR@10 ({other.split('_')[0]} excl.) | "
        "seeds | date | machine |",
        "|---|" + "---:|" * 20 + "---|---|",
    ]
    for name, row in out["models"].items():
        def fmt(key: str, src: dict = row) -> str:
            v = src.get(key)
            if v is None:
                return "–"
            std = src.get(f"{key}_std")
            return f"{v:.4f}" + (f" ± {std:.4f}" if std is not None else "")
        lines.append(f"| {name} | {fmt('ndcg@10')} | {fmt('hr@10')} | {fmt('ndcg@20')} | {fmt('hr@20')} | "
                     f"{fmt('mrr')} | {fmt('coverage@10')} | {fmt('gini_exposure@10')} | {fmt('aplt@10')} | "
                     f"{number(row.get('mean_pop@10'), 1)} | {fmt('ndcg@10_light')} | {fmt('ndcg@10_medium')} | "
                     f"{fmt('ndcg@10_heavy')} | {row['train_s']:.0f} | {row['eval_s']:.0f} | "
                     f"{epochs_cell(row)} | {number(row.get('s_per_epoch'), 1)} | {number(row.get('peak_rss_mb'))} | "
                     f"{fmt('ndcg@10', row[other])} | {fmt('hr@10', row[other])} | {row['seeds_run']} | "
                     f"{row['date']} | {row.get('machine', 'not recorded').split(',')[0]} |")
    decoder = decoder_table(out["models"])
    return "\n".join(lines + ([""] + decoder if decoder else []))


EXPOSURE_NOTE = ("Gini@10 is the Gini coefficient of how often each catalogue item appears in the top-10 lists "
                 "(0: evenly, towards 1: a few items take every slot); APLT@10 the average share of long-tail items "
                 f"in a list (outside the most popular items that make up {HEAD_SHARE:.0%} of training "
                 "interactions); mean pop@10 the average training interaction count of a recommended item.")


def activity_note(rows: dict[str, dict]) -> str:
    """The activity groups' cut points as a row recorded them (one split, so the same for every row): thirds
    of the users by training-history length."""
    activity = next((row["activity"] for row in rows.values() if row.get("activity")), None)
    if not activity:
        return "thirds of the users by training-history length (not recorded for these rows)."
    ranges = "; ".join(f"{label} {group['history'] or 'none'}" for label, group in activity.items())
    return f"thirds of the users by training-history length (events: {ranges})."


def epochs_cell(row: dict) -> str:
    """``12 (10)``, ``7 (7, capped)``; a dash for a model that trains no epochs."""
    if row.get("epochs") is None:
        return "–"
    return f"{number(row['epochs'])} ({number(row.get('best_epoch'))}{', capped' if row.get('capped') else ''})"


def number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"
