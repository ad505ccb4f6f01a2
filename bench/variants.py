"""Research log of the pipeline's variants: each named setting trained over seeds, chosen on validation.

For the issue "One model, one interest graph": every variant tried (``--set`` overrides of the pipeline, e.g.
``interests=4``) is trained once per seed as ``igcore bench quality`` trains it (same split, early stopping on
validation, a child process each), and its best validation NDCG@10, its test NDCG@10 / HR@10 (history excluded
on leave-one-out, nothing excluded on temporal, the protocols' headlines) and its cost per training position are
kept in ``bench/results/variants-DATASET-PROTOCOL.json`` with the table "Variants" of docs/BENCHMARKS.md. A
variant that lost stays in the table: what did not work is part of the record. Settings are chosen on the
validation column; the test column is read once a choice is made.

    OMP_NUM_THREADS=1 .venv/bin/python bench/variants.py --dataset sample --protocol temporal \
        --variant "" --variant "interests=4" --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import locked, machine, read_json, today, write_json, write_section  # noqa: E402
from igcore.config import parse_assignments  # noqa: E402
from igcore.evaluate.bench import dataset_interactions, eval_configs  # noqa: E402
from igcore.evaluate.decoder import gate_text  # noqa: E402
from igcore.evaluate.registry import ModelContext  # noqa: E402
from igcore.evaluate.runner import ModelJob, run_in_child  # noqa: E402


def run_variant(model: str, setting: str, db: Path, protocol: str, seed: int, budget: float | None) -> dict:
    overrides = dict(parse_assignments([s for s in setting.split(",") if s]))
    if budget is not None:
        overrides["max_train_s"] = budget or float("inf")
    exclude = next(iter(eval_configs(protocol).values())).exclude_seen[0]
    result = run_in_child(ModelJob(model, ModelContext(seed, "cpu", exclude, db, overrides), protocol))[""]
    head = result["variants"]["history_excluded" if exclude else "nothing_excluded"]
    cost = result.get("cost", {})
    valid = max((v for _, v in result["curve"]), default=None)  # None: a model that never reads validation
    row = {"valid_ndcg@10": None if valid is None else round(valid, 5), "ndcg@10": round(head["ndcg@10"], 5),
           "hr@10": round(head["hr@10"], 5), "s_per_position": cost.get("s_per_position"),
           "epochs": cost.get("epochs"), "train_s": round(result["train_s"], 1), "seed": seed,
           "date": today(), "machine": machine(), "curve": result["curve"]}  # [epoch, valid] of each check
    if "decoder" in result:  # the gate's weights (igcore.evaluate.decoder)
        row["decoder"] = result["decoder"]
    if "privacy" in result:  # what a private model's training spent (igcore-dp)
        row["privacy"] = result["privacy"]
    return row


def record(out: str, key: str, row: dict, table: Callable[[dict[str, list[dict]]], str]) -> None:
    """Add one seed's row under ``key`` (replacing that seed's earlier run) to ``out``'s JSON and section;
    parallel runs over one dataset merge their rows."""
    with locked(out):
        rows = read_json(out) or {}
        rows[key] = [r for r in rows.get(key, []) if r["seed"] != row["seed"]] + [row]
        write_json(out, rows)
        write_section(out, table(rows))


def summary(runs: list[dict], key: str) -> str:
    values = [r[key] for r in runs]
    spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.4f}{spread}"


def table(name: str, rows: dict[str, list[dict]]) -> str:
    lines = [f"## Variants · {name}", "",
             f"`.venv/bin/python bench/variants.py --dataset {name.split(' · ')[0]} --protocol "
             f"{name.split(' · ')[1]} --variant SETTING --seeds ...`: the pipeline with one setting changed, mean ± "
             "standard deviation over the seeds run; chosen on validation.", "",
             "Gate: the decoder's mean weight on the sequence state, the graph and the memory "
             "(`igcore.evaluate.decoder`; rows of 2026-12-07 on).", "",
             "| variant | seeds | valid NDCG@10 | test NDCG@10 | test HR@10 | s per position | gate | date | machine |",
             "|---|---:|---:|---:|---:|---:|---|---|---|"]
    for key, runs in sorted(rows.items(), key=lambda kv: -statistics.mean(r["valid_ndcg@10"] for r in kv[1])):
        per = [r["s_per_position"] for r in runs if r["s_per_position"]]
        lines.append(f"| {key} | {len(runs)} | {summary(runs, 'valid_ndcg@10')} | {summary(runs, 'ndcg@10')} | "
                     f"{summary(runs, 'hr@10')} | {statistics.median(per) * 1e6 if per else 0:.0f} µs | "
                     f"{gate(runs)} | {runs[-1]['date']} | {runs[-1]['machine']} |")
    return "\n".join(lines)


def gate(runs: list[dict]) -> str:
    """``sequence 0.91, memory 0.09``: the gate's weights, a mean over the runs that recorded them."""
    seen = [r["decoder"]["sources"] for r in runs if r.get("decoder")]
    if not seen:
        return "–"
    return gate_text({n: statistics.mean(s[n] for s in seen) for n in seen[0]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--protocol", default="loo")
    ap.add_argument("--model", default="igcore", help="registry name of the pipeline row to vary")
    ap.add_argument("--variant", action="append", default=[],
                    help="comma-separated KEY=VALUE settings ('' = the defaults); repeatable")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--budget", type=float, help="training time cap in seconds (0: none)")
    args = ap.parse_args()
    name, db, _ = dataset_interactions(args.dataset)
    out = f"variants-{name}-{args.protocol}"
    for setting in args.variant or [""]:
        for seed in args.seeds:
            row = run_variant(args.model, setting, db, args.protocol, seed, args.budget)
            key = args.model + (f"[{setting}]" if setting else "")
            print(key, row, flush=True)
            record(out, key, row, lambda rows: table(f"{name} · {args.protocol}", rows))


if __name__ == "__main__":
    main()
