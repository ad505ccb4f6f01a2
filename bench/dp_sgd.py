"""Privacy against accuracy: the pipeline's sequence path trained with user-level DP-SGD (registry row
``igcore-dp``, :mod:`igcore.dp.recommender`) at a few target epsilons, beside the same training without clipping
or noise (epsilon = inf) in the same run.

Each (epsilon, seed) trains in a child process as ``igcore bench quality`` does (:func:`variants.run_variant`);
the test NDCG@10 / HR@10 are the protocol's headline (history excluded on leave-one-out, nothing excluded on
temporal), and the epsilon reported is what the steps taken spent by Opacus's accountant (at most the target;
less when the time cap stopped training). Written to ``bench/results/dp-sgd-DATASET-PROTOCOL.json`` and the
section of the same name in docs/BENCHMARKS.md.

    OMP_NUM_THREADS=1 .venv/bin/python bench/dp_sgd.py --dataset sample --protocol temporal \
        [--epsilons 1 4 16 inf] [--seeds 0] [--budget SECONDS]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from variants import record, run_variant, summary  # noqa: E402

from igcore.evaluate.bench import dataset_interactions  # noqa: E402

EPSILONS = (1.0, 4.0, 16.0, math.inf)


def table(name: str, protocol: str, rows: dict[str, list[dict]]) -> str:
    lines = [f"## DP-SGD · {name} · {protocol}", "",
             f"`.venv/bin/python bench/dp_sgd.py --dataset {name} --protocol {protocol}`: the pipeline's sequence "
             "path (`igcore-dp`: no graph, memory or interests) trained with user-level DP-SGD (Opacus: Poisson-"
             "sampled users, each user's gradient clipped, Gaussian noise; delta = 1 / training users; fixed "
             "settings, no validation, the planned steps). ε target: what the noise was calibrated to; ε spent: "
             "Opacus's RDP accountant over the steps taken. ε = ∞ is the same training without clipping or noise. "
             "Mean ± standard deviation over the seeds run.", "",
             "| ε target | settings | seeds | ε spent | noise multiplier | steps | test NDCG@10 | test HR@10 | train s | "
             "date | machine |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for key, runs in sorted(rows.items(), key=lambda kv: float(kv[0])):
        spent = [r["privacy"]["epsilon"] for r in runs]
        spent_text = "∞" if None in spent else f"{max(spent):.2f}"
        p = runs[-1]["privacy"]
        settings = ", ".join(runs[-1].get("settings") or []) or "defaults"
        lines.append(f"| {'∞' if math.isinf(float(key)) else key} | {settings} | {len(runs)} | {spent_text} | "
                     f"{p['noise_multiplier']:.3f} | {p['steps']} | {summary(runs, 'ndcg@10')} | "
                     f"{summary(runs, 'hr@10')} | {statistics.median(r['train_s'] for r in runs):.0f} | "
                     f"{runs[-1]['date']} | {runs[-1]['machine']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--protocol", default="loo")
    ap.add_argument("--epsilons", type=float, nargs="+", default=list(EPSILONS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--budget", type=float, help="training time cap in seconds (0: none)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="other settings of every run, e.g. dp_epochs=2 (recorded with each row)")
    args = ap.parse_args()
    name, db, _ = dataset_interactions(args.dataset)
    out = f"dp-sgd-{name}-{args.protocol}"
    for eps in args.epsilons:
        for seed in args.seeds:
            row = run_variant("igcore-dp", ",".join([f"dp_epsilon={eps:g}", *args.set]), db, args.protocol, seed,
                              args.budget)
            row["settings"] = args.set
            print(f"epsilon={eps:g}", row, flush=True)
            record(out, f"{eps:g}", row, lambda rows: table(name, args.protocol, rows))


if __name__ == "__main__":
    main()
