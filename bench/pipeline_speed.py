"""Online speed of the pipeline: update throughput, one event's update + re-ranking, one user's top-10.

Each figure has a baseline measured in the same run, on the same machine load:
- update throughput (temporal split of each dataset: fit before the cutoff, replay everything after it in batches
  of ``--batch`` events through ``update``) against rebuilding the whole online state from every event, which is
  what a system without incremental updates pays per batch;
- one event's ``update`` followed by re-ranking that user's top-10, against re-ranking alone;
- one user's top-10 over the Beauty catalogue with the model loaded, against our SASRec's.

Timing does not depend on how well the weights are trained, so the models here train for ``--epochs`` epochs
(the architecture, catalogue and state sizes are those of the quality benchmarks).

    .venv/bin/python bench/pipeline_speed.py [--datasets sample taobao] [--latency-dataset beauty]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from igcore.benchio import machine, median, read_json, today, write_json, write_section
from igcore.encode.side import side_info
from igcore.evaluate.bench import dataset_interactions, make_split
from igcore.evaluate.sasrec import SASRec
from igcore.pipeline.model import IgcoreRecommender


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "max_ms": round(float(ms.max()), 3),
            "n": len(ms)}


def pipeline(dataset: str, epochs: int):
    _, db, data = dataset_interactions(dataset)
    model = IgcoreRecommender(side=side_info(db, "cpu"), device="cpu", epochs=epochs, eval_every=10**6)
    return model, data


def throughput(dataset: str, epochs: int, batch: int, repeats: int, single: int) -> dict:
    model, data = pipeline(dataset, epochs)
    split = make_split(data, "temporal")
    model.fit(split.train)
    stream = split.valid.concat(split.test)
    runs = []
    for _ in range(repeats):
        replay = copy.deepcopy(model)
        t0 = time.perf_counter()
        for start in range(0, len(stream), batch):
            replay.update(stream.subset(np.arange(start, min(start + batch, len(stream)))))
        replay.score(np.array([0]))  # the last refresh is paid for, not left pending
        runs.append(time.perf_counter() - t0)
    rebuild = copy.deepcopy(model)
    everything = split.train.concat(stream)
    rebuild_s = [_timed(lambda: (rebuild.rebuild_state(everything), rebuild.score(np.array([0])))) for _ in
                 range(repeats)]
    # one event at a time: update, then that user's new top-10; against the top-10 alone
    online, rank_only, both = copy.deepcopy(model), [], []

    def update_and_rank(event, user: int) -> None:
        online.update(event)
        online.recommend(user, 10)

    for j in range(min(single, len(stream))):
        event = stream.subset(np.array([j]))
        user = int(event.user[0])
        rank_only.append(_timed(online.recommend, user, 10))
        both.append(_timed(update_and_rank, event, user))
    rate = len(stream) / median(runs)
    return {"events": len(stream), "batch": batch, "update_events_per_s": round(rate),
            "update_runs_s": [round(x, 3) for x in runs], "rebuild_s": round(median(rebuild_s), 3),
            "rebuild_events": len(everything), "one_event_update_and_top10": percentiles(both),
            "top10_only": percentiles(rank_only)}


def top10_latency(dataset: str, epochs: int, users: int) -> dict:
    model, data = pipeline(dataset, epochs)
    split = make_split(data, "loo")
    model.fit(split.train)
    model.update(split.valid)
    sasrec = SASRec(device="cpu", epochs=epochs, eval_every=10**6)
    sasrec.fit(split.train)
    sasrec.update(split.valid)
    pick = np.random.default_rng(0).choice(data.n_users, size=min(users, data.n_users), replace=False)
    for m in (model, sasrec):  # warm caches (item table, threads) once, as a loaded server would be
        m.recommend(int(pick[0]), 10)
    ours, base = [], []
    for u in pick.tolist():  # alternate, so both see the same machine load
        ours.append(_timed(model.recommend, u, 10))
        base.append(_timed(sasrec.recommend, u, 10))
    return {"items": data.n_items, "igcore_top10": percentiles(ours), "sasrec_top10": percentiles(base)}


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["sample", "taobao"])
    ap.add_argument("--latency-dataset", default="beauty")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--single", type=int, default=2000, help="events replayed one at a time for latency")
    ap.add_argument("--users", type=int, default=2000, help="users timed for top-10 latency")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    how = (f"bench/pipeline_speed.py --datasets {' '.join(args.datasets)} --latency-dataset {args.latency_dataset} "
           f"--batch {args.batch}")
    out = {"date": today(), "machine": machine(), "how": how, "epochs": args.epochs, "torch_threads":
           torch.get_num_threads(), "stream": {}}
    for name in args.datasets:
        out["stream"][name] = throughput(name, args.epochs, args.batch, args.repeats, args.single)
        print(name, out["stream"][name], flush=True)
    out["top10"] = {args.latency_dataset: top10_latency(args.latency_dataset, args.epochs, args.users)}
    print(out["top10"], flush=True)
    out = merged(read_json("pipeline-speed"), out)
    write_json("pipeline-speed", out)
    write_section("pipeline-speed", render(out))


def merged(previous: dict | None, out: dict) -> dict:
    """``out`` with the rows of ``previous`` for datasets this run did not measure, each row stamped with the date
    and machine it ran on (a log whose store is not built here keeps its last figures, dated)."""
    stamp = {"date": out["date"], "machine": out["machine"]}
    for part in ("stream", "top10"):
        out[part] = {name: {**stamp, **row} for name, row in out[part].items()}
        for name, row in ((previous or {}).get(part) or {}).items():
            if name not in out[part]:
                out[part][name] = {"date": previous["date"], "machine": previous["machine"], **row}
    return out


def render(out: dict) -> str:
    lines = [
        "## Pipeline online speed",
        "",
        f"{out['date']} · {out['machine']} · torch threads {out['torch_threads']} · `.venv/bin/python {out['how']}` "
        "(rows of other dates: an earlier run of the datasets this one did not measure, on the machine they name)",
        "",
        "Update throughput: everything after the temporal cutoff replayed through `update` in batches (memory, "
        "histories, graph edges; the graph's vectors or co-occurrences refreshed every `graph_refresh` events), "
        "median of runs, against rebuilding "
        "the whole online state from every event (what a non-incremental system pays per batch). "
        "Targets: >= 15,000 events/s; one event's update + that user's top-10 p99 <= 20 ms.",
        "",
        "| dataset | events replayed | batch | update events/s | rebuild all state s | one event update + top-10 "
        "p50 / p99 ms | top-10 alone p50 / p99 ms | date | machine |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, r in out["stream"].items():
        both, alone = r["one_event_update_and_top10"], r["top10_only"]
        lines.append(f"| {name} | {r['events']:,} | {r['batch']} | {r['update_events_per_s']:,} | "
                     f"{r['rebuild_s']:.2f} ({r['rebuild_events']:,} events) | {both['p50_ms']:.2f} / "
                     f"{both['p99_ms']:.2f} | {alone['p50_ms']:.2f} / {alone['p99_ms']:.2f} | {r['date']} | "
                     f"{r['machine']} |")
    lines += ["", "One user's top-10 over the whole catalogue, model loaded, history excluded not applied; "
              "target p99 <= 10 ms.", "", "| dataset | items | igcore p50 / p99 ms | SASRec p50 / p99 ms | date | "
              "machine |", "|---|---:|---:|---:|---|---|"]
    for name, r in out["top10"].items():
        a, b = r["igcore_top10"], r["sasrec_top10"]
        lines.append(f"| {name} | {r['items']:,} | {a['p50_ms']:.2f} / {a['p99_ms']:.2f} | "
                     f"{b['p50_ms']:.2f} / {b['p99_ms']:.2f} | {r['date']} | {r['machine']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
