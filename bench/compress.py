"""Cheaper inference for the trained pipeline: the scoring head in int8 or fp16, and magnitude pruning of the head
and the sequence encoder at 30 % and 50 %, each against the float32 model it came from.

Trains the pipeline once on a dataset's leave-one-out split (Beauty by default, within ``--budget`` seconds),
then measures every variant of that one model on the same test users: NDCG@10 (history excluded) and the time to
score a fixed set of users against the whole catalogue (median of ``--repeats``). A variant is kept only where it
scores faster (at most ``KEEP_TIME`` of the float32 time) and keeps NDCG@10 within 1 % (relative). The
timings run in interleaved rounds, every variant once a round, so that load on a shared machine reaches all.

- ``head-int8``: the head's linear layers dynamically quantised to int8 (weights int8, activations quantised per
  batch); ``head-fp16``: the head's layers in float16 (the catalogue's dot products stay in float32);
- ``prune-30`` / ``prune-50``: that share of the smallest-magnitude weights of every linear layer of the head and
  of the sequence encoder (attention projections included) set to zero; the tensors stay dense.

Results: bench/results/compress-DATASET.json and the ``compress`` section of docs/BENCHMARKS.md.

    .venv/bin/python bench/compress.py [--dataset beauty] [--budget 600]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import machine, median, today, write_json, write_section  # noqa: E402

KEEP_TIME, KEEP_NDCG = 0.95, 0.99
VARIANTS = ("fp32", "head-int8", "head-fp16", "prune-30", "prune-50")


def compressed(model, variant: str):
    """A copy of the trained ``model`` with ``variant`` applied to its network."""
    out = copy.deepcopy(model)
    net = out.net
    if variant == "head-int8":
        from torch.ao.quantization import quantize_dynamic

        net.head.mlp = quantize_dynamic(net.head.mlp, {nn.Linear}, dtype=torch.qint8)
    elif variant == "head-fp16":
        net.head.mlp = HalfPrecision(net.head.mlp)
    elif variant.startswith("prune-"):
        from torch.nn.utils import prune

        share = int(variant.split("-")[1]) / 100
        for module in [*net.head.modules(), *net.seq.modules()]:
            for name in ("weight", "in_proj_weight"):
                if isinstance(getattr(module, name, None), nn.Parameter) and getattr(module, name).dim() == 2:
                    prune.l1_unstructured(module, name, amount=share)
                    prune.remove(module, name)
    out.forget_tables()
    return out


class HalfPrecision(nn.Module):
    """Runs a module in float16 and hands float32 back (a drop-in for the head's MLP)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.half()).float()


def score_seconds(models: dict, users: np.ndarray, repeats: int) -> dict[str, float]:
    """Median seconds each model takes to score ``users`` (in batches of 256), timed in interleaved rounds (every
    model once a round), so that a change in the machine's load reaches every model alike."""
    times: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        model.score(users[:64])  # warm the item table and the kernels
    for _ in range(repeats):
        for name, model in models.items():
            t0 = time.perf_counter()
            for start in range(0, len(users), 256):
                model.score(users[start:start + 256])
            times[name].append(time.perf_counter() - t0)
    return {name: median(t) for name, t in times.items()}


def main() -> None:
    from igcore.config import parse_assignments, with_overrides
    from igcore.encode.side import side_info
    from igcore.evaluate.bench import dataset_interactions
    from igcore.evaluate.protocols import EvalConfig, measure
    from igcore.evaluate.runner import make_split
    from igcore.pipeline.config import PipelineConfig
    from igcore.pipeline.model import IgcoreRecommender

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="beauty")
    ap.add_argument("--budget", type=float, default=600.0, help="training seconds")
    ap.add_argument("--users", type=int, default=4096, help="users scored for the timing")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load = os.getloadavg()[0]
    name, db, data = dataset_interactions(args.dataset, log=print)
    split = make_split(data, "loo")
    config = with_overrides(PipelineConfig(device="cpu", max_train_s=args.budget), parse_assignments(args.set))
    model = IgcoreRecommender(config, side=side_info(db, "cpu"))
    t0 = time.perf_counter()
    model.fit(split.train, split.valid)
    train_s = time.perf_counter() - t0
    users = np.random.default_rng(0).choice(split.train.n_users, min(args.users, split.train.n_users), replace=False)
    candidates = {variant: compressed(model, variant) for variant in VARIANTS}
    rows = {}
    for variant, candidate in candidates.items():
        result = measure(copy.deepcopy(candidate), split, EvalConfig("loo", exclude_seen=(True,)))
        metrics = next(iter(result["variants"].values()))
        rows[variant] = {"ndcg@10": round(metrics["ndcg@10"], 4), "hr@10": round(metrics["hr@10"], 4)}
        print(variant, rows[variant], flush=True)
    for variant, seconds in score_seconds(candidates, users, args.repeats).items():
        rows[variant].update(score_s=round(seconds, 3), ms_per_1k_users=round(1000 * seconds / len(users) * 1000, 1))
    base = rows["fp32"]
    for variant, row in rows.items():
        row["ndcg_ratio"] = round(row["ndcg@10"] / base["ndcg@10"], 4)
        row["time_ratio"] = round(row["score_s"] / base["score_s"], 3)
        row["kept"] = variant != "fp32" and row["time_ratio"] <= KEEP_TIME and row["ndcg_ratio"] >= KEEP_NDCG
    command = "python bench/compress.py " + " ".join(sys.argv[1:])
    write_json(f"compress-{name}", {"date": today(), "machine": machine(), "command": command.strip(),
                                    "train_s": round(train_s, 1), "epochs": len(model.log), "budget": args.budget,
                                    "timing_users": len(users), "load_average": round(load, 2), "rows": rows})
    lines = ["## Cheaper inference: the scoring head in int8 / fp16, pruning", "",
             f"One pipeline trained on {name} (leave-one-out, {len(model.log)} epochs within {args.budget:.0f} s), "
             f"then each variant of it: test NDCG@10 (history excluded) and the time to score {len(users)} users "
             f"against the catalogue (median of {args.repeats} interleaved rounds; load average {load:.1f} at the start). Kept only at <= {KEEP_TIME:.2f}× the float32 time "
             f"and >= {KEEP_NDCG:.2f}× its NDCG@10. {today()}, {machine()}. `{command.strip()}`", "",
             "| variant | NDCG@10 | ratio | HR@10 | ms per 1k users | time ratio | kept |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for variant, r in rows.items():
        lines.append(f"| {variant} | {r['ndcg@10']:.4f} | {r['ndcg_ratio']:.3f} | {r['hr@10']:.4f} | "
                     f"{r['ms_per_1k_users']} | {r['time_ratio']:.3f} | {'reference' if variant == 'fp32' else 'yes' if r['kept'] else 'no'} |")
    write_section("compress", "\n".join(lines))


if __name__ == "__main__":
    main()
