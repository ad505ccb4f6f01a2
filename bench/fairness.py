"""Accuracy against exposure: the popularity re-ranking (igcore.evaluate.rerank) at a few strengths on top of a
fast model's scores, leave-one-out with the user's history excluded (the published protocol).

Each model is fitted once and each test user scored once; every strength only re-ranks those scores
(``EvalConfig.pop_penalty``), so the grid costs a ranking per strength, not a model per strength. Written to
``bench/results/fairness-<dataset>.json`` and the section ``fairness-<dataset>`` of docs/BENCHMARKS.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/fairness.py [--datasets beauty toys] [--models ItemKNN Markov]
        [--strengths 0 0.1 0.25 0.5 1]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import locked, machine, today, write_json, write_section  # noqa: E402
from igcore.evaluate.bench import EXPOSURE_NOTE, activity_note, dataset_interactions, number  # noqa: E402
from igcore.evaluate.protocols import EvalConfig, fit, measure  # noqa: E402
from igcore.evaluate.registry import SEEDED, ModelContext, build_model  # noqa: E402
from igcore.evaluate.rows import format_seconds  # noqa: E402
from igcore.evaluate.runner import make_split  # noqa: E402

STRENGTHS = (0.0, 0.1, 0.25, 0.5, 1.0)
KEYS = ("ndcg@10", "hr@10", "coverage@10", "gini_exposure@10", "aplt@10", "mean_pop@10", "ndcg@10_light",
        "ndcg@10_medium", "ndcg@10_heavy", "cases", "activity")


def trade_off(model_name: str, split, strengths: tuple[float, ...]) -> dict[str, dict]:
    """One row per strength (``MODEL[rerank_pop=λ]``) from a single fit and a single scoring of ``split``."""
    model = build_model(model_name, ModelContext(seed=0, device="cpu", exclude_seen=True))
    train_s = fit(model, split)
    t0 = time.perf_counter()
    result = measure(model, split, EvalConfig("loo", exclude_seen=(True,), pop_penalty=strengths))
    eval_s = time.perf_counter() - t0
    by_strength = result["reranked"] if len(strengths) > 1 else {strengths[0]: result["variants"]}
    return {f"{model_name}[rerank_pop={format_seconds(s)}]": {
        "model": model_name, "strength": s, **{k: by_strength[s]["history_excluded"][k] for k in KEYS},
        "train_s": round(train_s, 2), "eval_s_all_strengths": round(eval_s, 1)} for s in strengths}


def table(out: dict) -> str:
    lines = [
        f"## {out['dataset']} · accuracy against exposure (popularity re-ranking)",
        "",
        f"{out['date']} · {out['machine']} · `{out['command']}`",
        "",
        "Leave-one-out, history excluded, full-catalogue ranking. Model: as each row names it (one fit, its "
        "scores re-ranked at each strength λ of `igcore bench quality --rerank pop=λ`: each score loses λ times "
        "the range of the user's scores times log(1 + training popularity) / log(1 + the highest popularity), so "
        f"at λ = 1 the most popular item loses the whole range; λ = 0 is the model's own ranking). {EXPOSURE_NOTE} NDCG@10 by user activity: "
        f"{activity_note(out['rows'])}",
        "",
        "| model | λ | NDCG@10 | HR@10 | coverage@10 | Gini@10 | APLT@10 | mean pop@10 | NDCG@10 light | "
        "NDCG@10 medium | NDCG@10 heavy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in out["rows"].values():
        lines.append(f"| {row['model']} | {format_seconds(row['strength'])} | {number(row['ndcg@10'], 4)} | "
                     f"{number(row['hr@10'], 4)} | {number(row['coverage@10'], 4)} | "
                     f"{number(row['gini_exposure@10'], 4)} | {number(row['aplt@10'], 4)} | "
                     f"{number(row['mean_pop@10'], 1)} | {number(row['ndcg@10_light'], 4)} | "
                     f"{number(row['ndcg@10_medium'], 4)} | {number(row['ndcg@10_heavy'], 4)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["beauty", "toys"])
    ap.add_argument("--models", nargs="+", default=["ItemKNN", "Markov"], help="untrained (fast) models")
    ap.add_argument("--strengths", nargs="+", type=float, default=list(STRENGTHS))
    args = ap.parse_args()
    trained = [m for m in args.models if m in SEEDED]
    if trained:
        ap.error(f"{', '.join(trained)}: this bench fits each model once, unseeded; pick fast untrained models")
    strengths = tuple(dict.fromkeys(args.strengths))
    command = shlex.join(["bench/fairness.py", "--datasets", *args.datasets, "--models", *args.models,
                          "--strengths", *(format_seconds(s) for s in strengths)])
    for dataset in args.datasets:
        name, _, data = dataset_interactions(dataset)
        split = make_split(data, "loo")
        rows: dict[str, dict] = {}
        for model in args.models:
            rows.update(trade_off(model, split, strengths))
            for row_name, row in rows.items():
                if row["model"] == model:
                    print(f"{name} {row_name}: ndcg@10 {row['ndcg@10']:.4f} gini {row['gini_exposure@10']:.4f} "
                          f"aplt {row['aplt@10']:.4f} mean_pop {row['mean_pop@10']:.1f}", flush=True)
        out = {"dataset": name, "protocol": "loo", "headline": "history_excluded", "date": today(),
               "machine": machine(), "command": command, "split": {"train": len(split.train),
                                                                    "test": len(split.test)}, "rows": rows}
        key = f"fairness-{name}"
        with locked(key):  # one run writes the whole table: its rows share one date, machine and command
            write_json(key, out)
            write_section(key, table(out))


if __name__ == "__main__":
    main()
