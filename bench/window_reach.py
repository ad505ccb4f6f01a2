"""What lies beyond the sequence window: for each log's test cases, where the target sits in the user's history.

The issue "One model, one interest graph" asks the TGN memory to add accuracy beyond the behaviour-sequence
encoder, which reads a user's last ``max_len`` events. A memory can carry what the window does not hold: events
further back. This bench measures, per log and under the protocol of its quality table (leave-one-out: each
user's test event after all the user's earlier ones; temporal: each test user's first test event after
everything before the test cutoff, as the harness asks), the share of test cases whose history is longer than
the window, and whether the target item is in the window, only further back in the history, or new to the user.
It reads the logs alone (no model is trained).

    .venv/bin/python bench/window_reach.py [--datasets sample beauty toys industrial taobao]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import WORK, machine, today, write_json, write_section  # noqa: E402
from igcore.evaluate.protocols import first_per_user  # noqa: E402
from igcore.evaluate.runner import load_split  # noqa: E402
from igcore.events import Interactions  # noqa: E402
from igcore.pipeline.config import PipelineConfig  # noqa: E402

PROTOCOL = {"sample": "temporal", "beauty": "loo", "toys": "loo", "industrial": "loo", "taobao": "temporal"}


def reach(history: Interactions, cases: Interactions, window: int) -> dict:
    """Shares of ``cases`` (one per user) by where the target lies in its user's ``history`` (time order)."""
    seqs = history.sequences()
    in_window = beyond = 0
    for user, item in zip(cases.user.tolist(), cases.item.tolist()):
        if item in seqs[user][-window:]:
            in_window += 1
        elif item in seqs[user]:
            beyond += 1
    n, lengths = len(cases), np.bincount(history.user, minlength=history.n_users)[cases.user]
    return {"cases": n, "median_history": float(np.median(lengths)),
            "history_longer_than_window": int((lengths > window).sum()) / n,
            "target_in_window": in_window / n, "target_only_beyond_window": beyond / n,
            "target_new_to_user": (n - in_window - beyond) / n}


def measure_log(name: str, window: int) -> dict:
    protocol = PROTOCOL[name]
    split = load_split(WORK / f"{name}.duckdb", protocol)
    history = split.train.concat(split.valid)
    history = history.subset(np.argsort(history.ts, kind="stable"))  # leave-one-out's parts interleave in time
    cases = split.test if protocol == "loo" else first_per_user(split.test)
    return {"protocol": protocol, **reach(history, cases, window)}


def table(rows: dict[str, dict], window: int) -> str:
    lines = [
        "## What lies beyond the sequence window", "",
        f"{today()} · {machine()} · `.venv/bin/python bench/window_reach.py` (the logs alone, no model; the "
        f"window: the pipeline's `max_len` = {window} events)", "",
        "Each log's test cases under its quality table's protocol (leave-one-out: each user's last event; temporal: "
        "each test user's first test event, after everything before the test cutoff). Where the target item lies in "
        "the user's history before it: among the last `max_len` events the sequence encoder reads, only further "
        "back (what a memory could carry and the window cannot), or nowhere (new to the user).", "",
        "| log | protocol | cases | median history | history longer than the window | target in the window | "
        "target only further back | target new to the user |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['protocol']} | {r['cases']:,} | {r['median_history']:.0f} | "
                     f"{r['history_longer_than_window']:.1%} | {r['target_in_window']:.1%} | "
                     f"{r['target_only_beyond_window']:.1%} | {r['target_new_to_user']:.1%} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(PROTOCOL), choices=list(PROTOCOL))
    args = ap.parse_args()
    window = PipelineConfig().max_len
    rows = {}
    for name in args.datasets:
        rows[name] = measure_log(name, window)
        print(name, rows[name])
    write_json("window-reach", {"date": today(), "machine": machine(), "window": window, "logs": rows})
    write_section("window-reach", table(rows, window))


if __name__ == "__main__":
    main()
