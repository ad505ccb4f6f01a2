"""Does a model still give the figures it gave? One seed of one model, trained and measured as ``igcore bench
quality`` does, compared with the validation curve that seed left in the dataset's results JSON.

A move of code that must not change the model (a refactor) is checked this way without replacing the quality
table's rows: the run is written to ``bench/results/reproduce.json`` under ``DATASET-PROTOCOL MODEL seed N``,
with the stored curve beside the new one and whether they agree.

    .venv/bin/python bench/reproduce.py --dataset beauty --protocol loo --model igcore --seed 0
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import machine, read_json, today, write_json, write_section  # noqa: E402
from igcore.evaluate.bench import dataset_interactions, eval_configs, make_split  # noqa: E402
from igcore.evaluate.protocols import fit, measure  # noqa: E402
from igcore.evaluate.registry import ModelContext, resolve_model  # noqa: E402

NAME = "reproduce"


def run(dataset: str, protocol: str, model_name: str, seed: int, device: str, budget: float | None) -> dict:
    name, db, data = dataset_interactions(dataset)
    split = make_split(data, protocol)
    config = next(iter(eval_configs(protocol).values()))
    model = resolve_model(model_name)(ModelContext(seed, device, config.exclude_seen[0], db))
    if budget is not None:  # a busy machine can reach the time cap earlier than the row's run did
        model.cfg = dataclasses.replace(model.cfg, max_train_s=budget or float("inf"))
    train_s = fit(model, split)
    result = measure(model, split, config)
    head = result["variants"]["history_excluded" if config.exclude_seen[0] else "nothing_excluded"]
    curve = [[e["epoch"], round(e["valid_ndcg@10"], 5)] for e in model.log if "valid_ndcg@10" in e]
    stored = (read_json(f"{name}-{protocol}") or {}).get("models", {}).get(model_name, {}).get("curves", [])
    before = stored[seed] if seed < len(stored) else None
    return {"ndcg@10": round(head["ndcg@10"], 4), "hr@10": round(head["hr@10"], 4), "curve": curve,
            "stored_curve": before, "same_curve": before == curve, "train_s": round(train_s, 1),
            "budget_s": budget, "date": today(), "machine": machine()}


def table(rows: dict[str, dict]) -> str:
    lines = ["## Reproduced seeds", "", "`.venv/bin/python bench/reproduce.py --dataset D --protocol P --model M --seed N`: "
             "one seed re-run, its validation curve compared with the one the quality table's row recorded for that "
             "seed (a move of code that must not change the model is checked this way).", "",
             "| run | code | NDCG@10 | HR@10 | same validation curve as the row's | epochs | date | machine |",
             "|---|---|---:|---:|---|---:|---|---|"]
    for key, r in rows.items():
        lines.append(f"| {key} | {r.get('code', '')} | {r['ndcg@10']:.4f} | {r['hr@10']:.4f} | {r['same_curve']} | "
                     f"{len(r['curve'])} | {r['date']} | {r['machine']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--protocol", required=True)
    ap.add_argument("--model", default="igcore")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--budget", type=float, help="training time cap in seconds instead of the model's (0: none)")
    ap.add_argument("--label", default="", help="which code ran (e.g. a commit), kept with the row")
    args = ap.parse_args()
    row = {**run(args.dataset, args.protocol, args.model, args.seed, args.device, args.budget), "code": args.label}
    print(row)
    key = f"{args.dataset}-{args.protocol} {args.model} seed {args.seed}" + (f" ({args.label})" if args.label else "")
    rows = {**(read_json(NAME) or {}), key: row}
    write_json(NAME, rows)
    write_section(NAME, table(rows))


if __name__ == "__main__":
    main()
