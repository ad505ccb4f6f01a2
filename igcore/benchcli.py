"""``igcore bench``: the benchmark subcommands' parsers and handlers (kept beside :mod:`igcore.cli`, which
adds them, so the command line's own module stays one concept)."""

from __future__ import annotations

import argparse

from igcore.errors import IgcoreError

DATASET_HELP = "sample, beauty, toys, taobao, industrial, rees46 or a PATH"


def add_bench_commands(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(required=True, metavar="BENCH")
    quality = bench.add_parser("quality", help="models against baselines on one split, full-catalogue ranking")
    quality.add_argument("--dataset", required=True, help=DATASET_HELP)
    quality.add_argument("--protocol", default="temporal", help="loo, temporal or stream")
    quality.add_argument("--models", nargs="+", help="default: the six baselines; pipeline rows by name")
    quality.add_argument("--seeds", type=int, default=1, help="runs of each seeded model")
    _trained_model_flags(quality)
    quality.add_argument("--budget", type=float, metavar="SECONDS",
                         help="training time cap of every trained model (0: no cap); rows are named [budget=S]")
    quality.add_argument("--rerank", metavar="pop=STRENGTH",
                         help="popularity re-ranking on top of every model's scores (0: none; 1: the most popular "
                              "item loses the range of the user's scores); rows are named [rerank_pop=STRENGTH]")
    quality.set_defaults(run=_bench_quality)

    budget = bench.add_parser("budget", help="quality against training time: each model at each time budget")
    budget.add_argument("--dataset", required=True, help=DATASET_HELP)
    budget.add_argument("--protocol", default="loo", help="loo, temporal or stream (its first row)")
    budget.add_argument("--models", nargs="+", required=True, help="trained models, e.g. SASRec BSARec igcore")
    budget.add_argument("--budgets", nargs="+", type=float, required=True, metavar="SECONDS",
                        help="training time caps (0: no cap)")
    budget.add_argument("--seed", type=int, default=0)
    _trained_model_flags(budget)
    budget.set_defaults(run=_bench_budget)


def _trained_model_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="setting of every trained model (repeatable), e.g. dim=64; rows are named with them")
    cmd.add_argument("--device", default="auto", help="auto, cpu or cuda")


def _bench_quality(args: argparse.Namespace) -> int:
    from igcore.config import parse_assignments
    from igcore.evaluate.bench import run_quality
    from igcore.evaluate.rerank import parse_rerank

    try:
        run_quality(args.dataset, args.protocol, args.models, args.seeds, args.device,
                    log=lambda line: print(line, flush=True), budget=args.budget,
                    overrides=parse_assignments(args.set),
                    pop_penalty=parse_rerank(args.rerank) if args.rerank is not None else None)
    except ValueError as exc:  # a wrong model name: the resolver's message lists the valid ones
        raise IgcoreError(str(exc)) from exc
    return 0


def _bench_budget(args: argparse.Namespace) -> int:
    from igcore.config import parse_assignments
    from igcore.evaluate.budget import run_budget

    try:
        run_budget(args.dataset, args.models, args.budgets, args.seed, args.protocol, args.device,
                   parse_assignments(args.set), log=lambda line: print(line, flush=True))
    except ValueError as exc:
        raise IgcoreError(str(exc)) from exc
    return 0
