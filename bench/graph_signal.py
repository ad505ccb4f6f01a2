"""What the user-item graph's signal adds to the pipeline without its graph stage, mixed at the score.

The issue "One model, one interest graph" asks each stage to earn its place, or, on Toys and Industrial, for the
measured reason it does not. The pipeline's graph stage has been level with `-no-graph` on every log. This bench
asks whether the graph holds anything the sequence lacks at all, whatever architecture reads it: it fits the
pipeline without its graph (`--base`) and graph models trained on the same events alone (`--graph`: ItemKNN's
item co-occurrence, LightGCN's propagated embeddings), then mixes each graph model's standardised scores into the
base's at each weight of `WEIGHTS` (:class:`igcore.evaluate.blend.Blend`). The weight is chosen per seed on
validation, where settings are chosen, and the test figure at that weight is set beside the base's own. Each log
runs its quality table's protocol: leave-one-out (history excluded) on the Amazon logs; on the sample the temporal
one (nothing excluded), validated as it is tested, each validation user's first event asked at the validation
cutoff. Each model is scored once; every weight re-ranks the recorded scores. `--joint` also blends all graph
models together, their weights chosen together on validation. A run replaces the seeds it ran of the dataset it
names (parallel runs of one dataset merge under a lock).

    OMP_NUM_THREADS=1 .venv/bin/python bench/graph_signal.py --dataset toys --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import WORK, locked, machine, read_json, today, write_json, write_section  # noqa: E402
from igcore.evaluate.bench import dataset_interactions  # noqa: E402
from igcore.evaluate.blend import Blend, Recorded  # noqa: E402
from igcore.evaluate.protocols import EvalConfig, fit, measure  # noqa: E402
from igcore.evaluate.registry import ModelContext, build_model  # noqa: E402
from igcore.evaluate.runner import load_split  # noqa: E402
from igcore.evaluate.splits import Split  # noqa: E402

OUT = "graph-signal"
WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
PROTOCOL = {"beauty": "loo", "toys": "loo", "industrial": "loo", "sample": "temporal"}  # as the quality tables
HEADLINE = {"loo": "history_excluded", "temporal": "nothing_excluded"}


def metrics(model: Blend, split: Split) -> dict[str, float]:
    """Validation and test NDCG@10 (and test HR@10) of ``model`` under the split's protocol, headline ranking."""
    headline = HEADLINE[split.name]
    config = EvalConfig(split.name, exclude_seen=(headline == "history_excluded",))
    if split.name == "loo":
        result = measure(model, split, config)
        valid = result["valid"]["ndcg@10"]
    else:  # the validation period asked as the test period is: each user's first event, at its cutoff
        ahead = dataclasses.replace(split, valid=split.valid.subset(slice(0, 0)), test=split.valid,
                                    info={**split.info, "cutoff_test": split.info["cutoff_valid"]})
        valid = measure(model, ahead, config)["variants"][headline]["ndcg@10"]
        result = measure(model, split, config)
    test = result["variants"][headline]
    return {"valid_ndcg": valid, "test_ndcg": test["ndcg@10"], "test_hr": test["hr@10"]}


def run_seed(dataset: str, seed: int, base_name: str, graph_names: list[str], weights: tuple[float, ...],
             device: str, joint: bool) -> dict:
    """One seed: the base and each graph model fitted once, then each graph model blended into the base at every
    weight (and, with ``joint``, all graph models together at every combination of weights); a row is keyed by
    its weights, comma-joined."""
    db = WORK / f"{dataset}.duckdb"
    split = load_split(db, PROTOCOL[dataset])
    exclude_seen = HEADLINE[split.name] == "history_excluded"  # early stopping ranks as the headline does
    models = {}
    for name in [base_name, *graph_names]:
        model = build_model(name, ModelContext(seed, device, exclude_seen, db, {}))
        fit(model, split)
        models[name] = Recorded(model)
        print(f"{dataset} seed {seed}: {name} fitted", flush=True)
    everyone = list(models.values())
    metrics(Blend(everyone, [1.0] + [0.0] * len(graph_names)), split)  # records every model's answers

    def replayed(parts: list[str], mix: tuple[float, ...]) -> dict[str, float]:
        for model in everyone:
            model.rewind()
        return metrics(Blend([models[name] for name in parts], mix), split)

    out = {}
    for names in [[name] for name in graph_names] + ([graph_names] if joint and len(graph_names) > 1 else []):
        rows = {",".join(f"{w:g}" for w in mix): replayed([base_name, *names], (1.0, *mix))
                for mix in itertools.product(weights, repeat=len(names))}
        label = " + ".join(names)
        out[label] = {"weights": rows, "alone": replayed(names, (1.0,)) if len(names) == 1 else None}
        print(f"{dataset} seed {seed}: {label} {out[label]}", flush=True)
    return out


def summary(seeds: dict[str, dict], graph: str) -> dict:
    """Per seed the weights of the best validation (ties go to the smaller total weight); mean and standard
    deviation over seeds of the base's test NDCG@10 (every weight 0) and the blend's at the chosen weights; the
    largest weight every seed tried."""
    chosen, base, blend, valid_base, valid_blend, alone = [], [], [], [], [], []
    for runs in seeds.values():
        rows = runs[graph]["weights"]
        mixes = {key: [float(w) for w in key.split(",")] for key in rows}
        best = max(rows, key=lambda key: (rows[key]["valid_ndcg"], -sum(mixes[key])))
        zero = next(key for key, mix in mixes.items() if not any(mix))
        chosen.append(best.replace(",", "+"))
        base.append(rows[zero]["test_ndcg"])
        blend.append(rows[best]["test_ndcg"])
        valid_base.append(rows[zero]["valid_ndcg"])
        valid_blend.append(rows[best]["valid_ndcg"])
        if runs[graph]["alone"] is not None:
            alone.append(runs[graph]["alone"]["test_ndcg"])

    def stats(xs: list[float]) -> tuple[float, float] | None:
        return (statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0) if xs else None

    largest = min(max(float(w) for key in runs[graph]["weights"] for w in key.split(",")) for runs in seeds.values())
    return {"chosen": chosen, "largest": largest, "base": stats(base), "blend": stats(blend),
            "valid_base": stats(valid_base), "valid_blend": stats(valid_blend), "alone": stats(alone)}


def section(data: dict) -> str:
    lines = ["## What the graph's signal adds to the sequence, mixed at the score", "",
             "Each dataset's rows from `OMP_NUM_THREADS=1 .venv/bin/python bench/graph_signal.py --dataset D "
             "--seeds S... [--joint]` (a run replaces the seeds it ran), as dated, under each log's protocol (leave-one-out with "
             "history excluded; the sample: temporal, nothing excluded). The base is "
             "the pipeline without its graph stage; each graph model is trained alone on the same events, and its "
             "standardised scores are added to the base's at a weight chosen per seed on validation, among those "
             "from 0 up to the largest weight tried; a row naming two graph models (`--joint`) adds both, their "
             "weights chosen together (\"a+b\"). NDCG@10, mean ± standard deviation over seeds.", "",
             "| dataset | base | graph model | seeds | graph model alone: test | base: valid | blend: valid | "
             "base: test | blend: test | ratio | weights chosen | largest tried | date | machine |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|"]
    for dataset, run in data.items():
        for graph in next(iter(run["seeds"].values())):
            s = summary(run["seeds"], graph)

            def cell(pair: tuple[float, float] | None) -> str:
                return "–" if pair is None else f"{pair[0]:.4f} ± {pair[1]:.4f}"

            lines.append(f"| {dataset} | {run['base']} | {graph} | {len(run['seeds'])} | {cell(s['alone'])} | "
                         f"{cell(s['valid_base'])} | {cell(s['valid_blend'])} | {cell(s['base'])} | "
                         f"{cell(s['blend'])} | {s['blend'][0] / s['base'][0]:.3f} | "
                         f"{', '.join(s['chosen'])} | {s['largest']:g} | {run['date']} | "
                         f"{run['machine']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True, choices=list(PROTOCOL))
    ap.add_argument("--base", default="igcore-no-graph")
    ap.add_argument("--graph", nargs="+", default=["ItemKNN", "LightGCN"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--joint", action="store_true", help="also blend all graph models together (a grid per "
                    "combination of weights: as many measurements as weights to the power of the graph models)")
    args = ap.parse_args()
    dataset_interactions(args.dataset)  # builds the log's store under bench/.work once
    for seed in args.seeds:
        result = run_seed(args.dataset, seed, args.base, args.graph, WEIGHTS, args.device, args.joint)
        with locked(OUT):  # parallel runs of one dataset merge their seeds
            data = read_json(OUT) or {}
            run = data.get(args.dataset, {})
            if (run.get("base"), run.get("graph"), run.get("joint", False)) != (args.base, args.graph, args.joint):
                run = {"base": args.base, "graph": args.graph, "joint": args.joint, "seeds": {}}
            run["seeds"][str(seed)] = result
            run.update(date=today(), machine=machine())
            data[args.dataset] = run
            write_json(OUT, data)
            write_section(OUT, section(data))


if __name__ == "__main__":
    main()
