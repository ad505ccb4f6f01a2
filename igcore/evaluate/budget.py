"""``igcore bench budget``: quality against training time. Each named trained model at each time budget (one
seed, each run alone in a child process) on one split, written to ``bench/results/<dataset>-budget.json`` and
the section ``budget-<dataset>`` of ``docs/BENCHMARKS.md``: which model is best at a given cost, and whether a
longer budget still buys quality."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from igcore.benchio import locked, machine, read_json, today, write_json, write_section
from igcore.errors import IgcoreError
from igcore.evaluate.bench import Log, check_settings, dataset_interactions, epochs_cell, number, split_summary
from igcore.evaluate.registry import MODELS, SEEDED, ModelContext
from igcore.evaluate.rows import aggregate, format_seconds, headline_variant, merge_rows, row_name, run_settings
from igcore.evaluate.runner import ModelJob, eval_configs, make_split, run_in_child
from igcore.eventlog import export_folder


def run_budget(dataset: str, models: Sequence[str], budgets: Sequence[float], seed: int = 0,
               protocol: str = "loo", device: str = "auto", overrides: Mapping[str, str] | None = None,
               log: Log = print) -> dict:
    """Train and measure every model in ``models`` once per budget in ``budgets`` (seconds, 0 = no cap) and
    merge the rows (named ``MODEL[budget=S]``, with any ``overrides``) into the dataset's budget results."""
    untrained = [m for m in models if m in MODELS and m not in SEEDED]
    if untrained:
        raise IgcoreError(f"no training budget applies to {', '.join(untrained)} (nothing trained); trained "
                          f"models: {', '.join(m for m in MODELS if m in SEEDED)}")
    for budget in budgets:
        check_settings(list(models), overrides, budget, device)
    command = budget_command(dataset, models, budgets, seed, protocol, overrides)
    name, db, data = dataset_interactions(dataset, log)
    split = make_split(data, protocol)
    config = next(iter(eval_configs(protocol).values()))
    log(f"{name}: {len(data):,} events; split {protocol}: train {len(split.train):,}, test {len(split.test):,}")
    out: dict = {}
    for model in models:
        for budget in budgets:
            ctx = ModelContext(seed, device, config.exclude_seen[0], db, run_settings(overrides, budget),
                               export_folder(dataset))
            result = run_in_child(ModelJob(model, ctx, protocol))[""]
            row = {**aggregate([result], config), "model": model, "budget": budget, "seed": seed,
                   "settings": dict(overrides or {}), "command": command, "date": today(), "machine": machine()}
            log(f"  {row_name(model, overrides, budget)}: ndcg@10 {row['ndcg@10']:.4f} train {row['train_s']:.0f}s "
                f"epochs {epochs_cell(row)}")
            out = _save(name, protocol, split_summary(split), headline_variant(config), command,
                        {row_name(model, overrides, budget): row})
    return out


def budget_command(dataset: str, models: Sequence[str], budgets: Sequence[float], seed: int, protocol: str,
                   overrides: Mapping[str, str] | None) -> str:
    """The command line that reproduces a run, as written above its table."""
    parts = ["igcore", "bench", "budget", "--dataset", dataset, "--models", *models, "--budgets",
             *(format_seconds(b) for b in budgets), "--seed", str(seed)]
    if protocol != "loo":
        parts += ["--protocol", protocol]
    for key, value in sorted((overrides or {}).items()):
        parts += ["--set", f"{key}={value}"]
    return shlex.join(parts)


def _save(name: str, protocol: str, split: dict, headline: str, command: str, rows: dict[str, dict]) -> dict:
    """Merge finished rows at once (an interrupted run keeps them; rows of another split or protocol are
    dropped) and rewrite the JSON and the table."""
    key = f"{name}-budget"
    out = {"dataset": name, "protocol": protocol, "date": today(), "machine": machine(), "command": command,
           "split": {**split, "protocol": protocol}, "headline": headline, "models": rows}
    with locked(key):
        out = merge_rows(read_json(key), out, list(MODELS))
        write_json(key, out)
        write_section(f"budget-{name}", render_budget_table(out))
    return out


def render_budget_table(out: dict) -> str:
    rank = {name: i for i, name in enumerate(MODELS)}
    rows = sorted(out["models"].values(), key=lambda r: (rank.get(r["model"], len(rank)), sorted(r["settings"].items()),
                                                         r["budget"] or float("inf")))
    lines = [
        f"## {out['dataset']} · quality against training budget ({out['protocol']})",
        "",
        f"{out['date']} · {out['machine']} · `{out['command']}` (the latest run; a rerun replaces its rows, "
        "and rows of earlier runs stay with their own date and machine in the JSON)",
        "",
        f"One seed per row; full-catalogue ranking, headline: {out['headline'].replace('_', ' ')}. Budget: the "
        "training time cap in seconds (0: none); capped: the cap, not early stopping, ended training. Peak MB: "
        "the process that trained and measured the model alone.",
        "",
        "| model | budget s | NDCG@10 | HR@10 | valid NDCG@10 | train s | epochs (best) | s/epoch | ms/position | "
        "peak MB | date |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        per_position = r.get("s_per_position")
        settings = ",".join(f"{k}={v}" for k, v in sorted(r["settings"].items()))
        lines.append(f"| {r['model']}{f'[{settings}]' if settings else ''} | {format_seconds(r['budget'])} | "
                     f"{number(r['ndcg@10'], 4)} | {number(r['hr@10'], 4)} | {number(r.get('valid_ndcg@10'), 4)} | "
                     f"{number(r['train_s'])} | {epochs_cell(r)} | {number(r.get('s_per_epoch'), 1)} | "
                     f"{number(per_position * 1000 if per_position else None, 3)} | "
                     f"{number(r.get('peak_rss_mb'))} | {r['date']} |")
    return "\n".join(lines)
