"""One model's benchmark run: built from the registry, fitted once, measured for each row its protocol gives,
with what the training cost; in this process, or alone in a child process.

A trained model runs in a child (:func:`run_in_child`, a fresh ``spawn``-ed interpreter) so that its peak
memory is its own, not the bench process's high-water mark after other models, and so that nothing one model
leaves behind (allocator caches, torch threads) reaches the next. The child loads the split from the dataset's
store and returns plain JSON, never a pickled model.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from igcore.errors import IgcoreError
from igcore.evaluate.decoder import decoder_weights
from igcore.evaluate.protocols import PROTOCOLS, EvalConfig, fit, measure
from igcore.evaluate.registry import ModelContext, build_model
from igcore.evaluate.rows import curve, params, training_cost
from igcore.evaluate.splits import Split, leave_one_out, temporal_split
from igcore.eventlog import use_event_log
from igcore.events import Interactions, load_interactions
from igcore.store import Store

PATH_FIELDS = ("store_path", "events_dir")  # ModelContext's paths, strings in the child's JSON
GRAPH_OFF = "[graph_weight=0]"  # the row of a pipeline's fit measured without its graph at the score
CHILD_IGCORE_ERROR = 3  # the child's exit status for an igcore error (its message is stderr's last line)


@dataclasses.dataclass(frozen=True)
class ModelJob:
    """What a (child) run needs: the model's registry name, its context (``ctx.store_path``: the dataset's
    store, from which the split is rebuilt) and the protocol."""

    model: str
    ctx: ModelContext
    protocol: str
    pop_penalty: float = 0.0  # popularity re-ranking on top of the model's scores (igcore.evaluate.rerank)


def make_split(data: Interactions, protocol: str) -> Split:
    if protocol not in PROTOCOLS:
        raise IgcoreError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    return leave_one_out(data) if protocol == "loo" else temporal_split(data)


def eval_configs(protocol: str, pop_penalty: float = 0.0) -> dict[str, EvalConfig]:
    """Rows to run per model. LOO ranks with the user's history excluded (the published protocol) and without;
    temporal and stream rank everything (shoppers do re-view and re-buy), with the excluded variant beside;
    stream also runs frozen (no online updates) so dynamic against frozen is one table. Every row ranks with
    the popularity re-ranking of strength ``pop_penalty`` (0: the model's own ranking)."""
    pen = (pop_penalty,)
    if protocol == "loo":
        return {"": EvalConfig("loo", exclude_seen=(True, False), pop_penalty=pen)}
    if protocol == "temporal":
        return {"": EvalConfig("temporal", exclude_seen=(False, True), pop_penalty=pen)}
    return {"": EvalConfig("stream", exclude_seen=(False, True), pop_penalty=pen),
            " (frozen)": EvalConfig("stream", exclude_seen=(False, True), frozen=True, pop_penalty=pen)}


def load_split(store_path: Path, protocol: str, events_dir: Path | None = None) -> Split:
    """The split of the store's events, or of its Parquet export ``events_dir``'s."""
    with Store(store_path, read_only=True) as store:
        if events_dir is not None:
            use_event_log(store, events_dir)
        return make_split(load_interactions(store), protocol)


def run_model(job: ModelJob, split: Split | None = None) -> dict[str, dict]:
    """Fit ``job``'s model once and measure it for each row of the protocol: {row suffix: measure's result
    with ``train_s``, ``params``, ``curve`` and, for a model that trained epochs, ``cost``}."""
    split = split if split is not None else load_split(job.ctx.store_path, job.protocol, job.ctx.events_dir)
    model = build_model(job.model, job.ctx)
    train_s = fit(model, split)
    log = getattr(model, "log", [])
    cost = {**training_cost(log, train_s), "peak_rss_mb": None, "concurrency": concurrency()} if log else None
    configs = eval_configs(job.protocol, job.pop_penalty)
    fitted = {prefix: one for prefix, one in (("", model), (GRAPH_OFF, graph_off(model))) if one is not None}
    out = {}
    for prefix, one in fitted.items():
        decoder = decoder_weights(one)  # the state training left, before any row feeds it test events
        for suffix, config in configs.items():  # each row measures its own copy of the fitted model
            result = measure(copy.deepcopy(one) if len(configs) * len(fitted) > 1 else one, split, config)
            result.update(train_s=train_s, params=params(one), curve=curve(one))
            if getattr(one, "privacy", None) is not None:  # what a private model's training spent (igcore.dp)
                result["privacy"] = one.privacy
            if cost is not None:
                result["cost"] = cost
            if decoder is not None:
                result["decoder"] = decoder
            out[prefix + suffix] = result
    return out


def graph_off(model: Any) -> Any | None:
    """A copy of a fitted pipeline whose graph at the score has weight 0, or None for any other model: the row
    ``-no-graph`` would give (its network trains exactly as the model's: the graph at the score trains nothing),
    measured from the same fit."""
    stage = getattr(model, "scored_graph", None)
    if stage is None or stage.weight == 0:
        return None
    off = copy.copy(model)
    off.scored_graph = dataclasses.replace(stage, weight=0.0)
    return off


def run_in_child(job: ModelJob) -> dict[str, dict]:
    """:func:`run_model` in a fresh interpreter (``python -m igcore.evaluate.runner``, the job as JSON on its
    stdin, the split rebuilt there from the store); an igcore error there is raised here with its message. A
    plain subprocess rather than multiprocessing's spawn, which re-runs the parent's ``__main__`` in the child
    (under Streamlit's AppTest that is app.py). Adds the child's peak resident memory to the cost."""
    paths = {k: str(getattr(job.ctx, k)) if getattr(job.ctx, k) else None for k in PATH_FIELDS}
    ctx = {**dataclasses.asdict(job.ctx), **paths, "overrides": dict(job.ctx.overrides)}
    payload = json.dumps({"model": job.model, "protocol": job.protocol, "ctx": ctx, "pop_penalty": job.pop_penalty})
    done = subprocess.run([sys.executable, "-m", "igcore.evaluate.runner"], input=payload, capture_output=True,
                          text=True)
    if done.returncode == CHILD_IGCORE_ERROR:
        raise IgcoreError(done.stderr.strip().splitlines()[-1])
    if done.returncode != 0:
        raise RuntimeError(f"{job.model} failed in its child process:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _job_from_json(text: str) -> ModelJob:
    data = json.loads(text)
    ctx = data["ctx"]
    paths = {k: Path(ctx[k]) if ctx.get(k) else None for k in PATH_FIELDS}
    return ModelJob(data["model"], ModelContext(**{**ctx, **paths}), data["protocol"],
                    data.get("pop_penalty", 0.0))


def _child_main(job: ModelJob) -> str:
    out = run_model(job)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # this process alone: it ran only this model
    peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, kilobytes on Linux
    for result in out.values():
        if "cost" in result:
            result["cost"] = {**result["cost"], "peak_rss_mb": round(peak_mb, 1)}
    return json.dumps(out)


def concurrency() -> dict[str, float]:
    """What shared the machine while the model trained: torch's threads here, running bench processes (this
    one's parent included), the one-minute load average. Timings taken beside other runs read accordingly."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "bench_processes": len(bench_processes()),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def bench_processes(proc: Path = Path("/proc")) -> list[int]:
    """Process ids whose command line is a benchmark (:func:`is_bench_command`); none where /proc is absent."""
    pids = []
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if is_bench_command(argv):
            pids.append(int(entry.name))
    return pids


def is_bench_command(argv: list[str]) -> bool:
    """``igcore bench ...``, ``python -m igcore.cli bench ...`` or ``python bench/SCRIPT.py``."""
    args = [a for a in argv if a]
    if "bench" in args:
        before = args[:args.index("bench")]
        if any(Path(a).name == "igcore" or a == "igcore.cli" for a in before):
            return True
    return any(re.search(r"(^|/)bench/[^/]+\.py$", a) for a in args)


if __name__ == "__main__":
    try:
        print(_child_main(_job_from_json(sys.stdin.read())))
    except IgcoreError as exc:
        print(str(exc).replace("\n", " "), file=sys.stderr)
        sys.exit(CHILD_IGCORE_ERROR)
