"""The GPU path in one command: every stage on the chosen device, and a checkpoint moved between devices.

1. quality: the pipeline trained to early stop on a dataset's leave-one-out split (Beauty by default) on
   ``--device``: NDCG@10 / HR@10 on test (history excluded), training seconds, epochs;
2. stream: the pipeline trained on the first ``--stream-train`` events of a larger log (the scale bench's 10M
   log by default), then the rest taken in through ``update`` in batches of 1,000 (events/s, no gradient
   steps), then one user's top-10 (latency p50 / p99);
3. cross-device: the trained model's weights served by a model on the CPU (the scores' largest difference to
   those of the model that trained, on 200 users);
4. audit: every tensor of the trained and of the streamed model (network, memory, cached item tables) that is
   not on ``--device``, named.

``--tiny`` runs the same steps on a small generated log (CI's check that the script works before it meets a
GPU). Results go to bench/results/gpu.json and the ``gpu`` section of docs/BENCHMARKS.md, which says when they
were not measured on a GPU; with ``--out DIR``, to DIR/gpu.json only.

    bash bench/gpu.sh [--device cuda] [--budget S] [--tiny --out DIR]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import WORK, machine, today, write_json, write_section  # noqa: E402

BATCH = 1000
STREAM_LOG = WORK / "scale" / "10000000" / "store.duckdb"


def tiny_store(folder: Path) -> Path:
    """A small generated shop log in a fresh store (catalogue with texts, events)."""
    from igcore.ingest import import_events, import_items
    from igcore.store import Store
    from igcore.synth import SynthConfig, generate, write

    files = write(generate(SynthConfig(n_users=150, n_items=120, n_events=6000, days=20)), folder)
    db = folder / "generated-tiny.duckdb"
    with Store(db) as store:
        import_items(store, files["items"])
        import_events(store, files["events"])
    return db


def pipeline(db: Path, config, **changes):
    """An untrained pipeline of ``config`` (with ``changes``) and the store's item side information."""
    from igcore.encode.side import side_info
    from igcore.pipeline.model import IgcoreRecommender

    return IgcoreRecommender(dataclasses.replace(config, **changes), side=side_info(db, config.device))


def quality(dataset: str, config) -> tuple[dict, object, object]:
    """Train to early stop (within ``budget``) and measure; the trained model and its split come back too."""
    from igcore.evaluate.bench import dataset_interactions
    from igcore.evaluate.protocols import EvalConfig, measure
    from igcore.evaluate.runner import make_split

    _, db, data = dataset_interactions(dataset, log=lambda line: None)
    split = make_split(data, "loo")
    model = pipeline(db, config)
    t0 = time.perf_counter()
    model.fit(split.train, split.valid)
    train_s = time.perf_counter() - t0
    result = measure(copy.deepcopy(model), split, EvalConfig("loo", exclude_seen=(True,)))
    metrics = next(iter(result["variants"].values()))
    return ({"dataset": Path(dataset).name, "ndcg@10": round(metrics["ndcg@10"], 4), "hr@10": round(metrics["hr@10"], 4),
             "train_s": round(train_s, 1), "epochs": len(model.log), "eval_s": round(result["eval_s"], 1)},
            model, split)


def stream(log: str, config, train_events: int) -> tuple[dict, object]:
    """Train on the log's first ``train_events`` events, take in the rest through ``update``, time top-10s."""
    from igcore.evaluate.bench import dataset_interactions

    _, db, data = dataset_interactions(log, log=lambda line: None)
    cut = min(train_events, len(data) - 1)
    train, rest = data.subset(slice(0, cut)), data.subset(slice(cut, None))
    model = pipeline(db, config, eval_every=10**6)
    model.fit(train)
    t0 = time.perf_counter()
    for start in range(0, len(rest), BATCH):
        model.update(rest.subset(slice(start, min(start + BATCH, len(rest)))))
    model.score(np.array([0]))  # the last refresh is paid for, not left pending
    update_s = time.perf_counter() - t0
    latency = []
    for u in np.unique(rest.user)[:200].tolist():
        t1 = time.perf_counter()
        model.recommend(u, 10)
        latency.append(1000 * (time.perf_counter() - t1))
    return ({"log": Path(log).name, "train_events": len(train), "stream_events": len(rest),
             "update_events_per_s": round(len(rest) / update_s),
             "top10_p50_ms": round(float(np.percentile(latency, 50)), 2),
             "top10_p99_ms": round(float(np.percentile(latency, 99)), 2)}, model)


def cross_device(model, events, to: str = "cpu") -> dict:
    """The trained weights served by a fresh model on ``to``: the largest score difference on 200 users."""
    from igcore.pipeline.model import IgcoreRecommender

    served = IgcoreRecommender(dataclasses.replace(model.cfg, device=to), side=model.side)
    served.restore(events, model.weights())
    users = np.arange(min(200, model.n_users))
    return {"from": str(model.device), "to": to,
            "max_abs_score_diff": float(np.abs(served.score(users) - model.score(users)).max())}


def run(args: argparse.Namespace) -> dict:
    from igcore.config import parse_assignments, with_overrides
    from igcore.device import off_device, resolve_device
    from igcore.pipeline.config import PipelineConfig

    device = str(resolve_device(args.device))
    config = with_overrides(PipelineConfig(device=device, max_train_s=args.budget), parse_assignments(args.set))
    with tempfile.TemporaryDirectory() as tmp:
        dataset = stream_log = str(tiny_store(Path(tmp))) if args.tiny else None
        good, model, split = quality(dataset or args.dataset, config)
        moved = cross_device(model, split.train)
        trained_off = off_device(model.named_tensors(), device)
        fed, streamed = stream(stream_log or args.stream, config, args.stream_train)
        streamed_off = off_device(streamed.named_tensors(), device)
    return {"date": today(), "machine": machine(), "device": device, "device_name": device_name(device),
            "tiny": args.tiny, "command": "bench/gpu.sh " + " ".join(sys.argv[1:]), "quality": good,
            "stream": fed, "cross_device": moved,
            "audit": {"trained": trained_off, "streamed": streamed_off}}


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "CPU"


def section(data: dict) -> str:
    q, s, c, audit = data["quality"], data["stream"], data["cross_device"], data["audit"]
    off = {k: len(v) for k, v in audit.items()}
    lines = ["## GPU path", "",
             f"{data['date']} · {data['machine']} · `{data['command']}` · device {data['device']} "
             f"({data['device_name']})", ""]
    if not data["device"].startswith("cuda"):
        lines += ["**Not yet run on a GPU**: these are the script's figures on the CPU.", ""]
    lines += ["| step | figure |", "|---|---|",
              f"| {q['dataset']}: trained with early stopping | NDCG@10 {q['ndcg@10']:.4f}, HR@10 {q['hr@10']:.4f}; "
              f"{q['train_s']:,.0f} s, {q['epochs']} epochs |",
              f"| stream ({s['log']}): {s['train_events']:,} events trained, {s['stream_events']:,} through update "
              f"(batches of {BATCH:,}) | {s['update_events_per_s']:,} events/s |",
              f"| one user's top-10 after the stream | p50 {s['top10_p50_ms']} ms, p99 {s['top10_p99_ms']} ms |",
              f"| trained on {c['from']}, served on {c['to']} | largest score difference {c['max_abs_score_diff']:.2e} |",
              f"| tensors not on {data['device']} | trained model {off['trained']}, after the stream "
              f"{off['streamed']} |"]
    named = sorted({name for names in audit.values() for name in names})
    if named:
        lines += ["", "Off the device: " + ", ".join(f"`{n}`" for n in named[:20])
                  + (f" and {len(named) - 20} more" if len(named) > 20 else "")]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--dataset", default="beauty", help="trained to early stop (leave-one-out)")
    ap.add_argument("--stream", default=str(STREAM_LOG), help="the log streamed through update (a store path)")
    ap.add_argument("--stream-train", type=int, default=1_000_000, help="events trained before the stream")
    ap.add_argument("--budget", type=float, default=1500.0, help="training seconds of each model")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="pipeline settings")
    ap.add_argument("--tiny", action="store_true", help="a small generated log for every step (the CI check)")
    ap.add_argument("--out", type=Path, help="write the results JSON here (and nothing else)")
    args = ap.parse_args()
    if args.tiny:
        args.stream_train = min(args.stream_train, 4000)
    data = run(args)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu.json").write_text(json.dumps(data, indent=1))
    else:
        write_json("gpu", data)
        write_section("gpu", section(data))
    print(section(data))


if __name__ == "__main__":
    main()
