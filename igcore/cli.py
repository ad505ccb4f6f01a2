"""The ``igcore`` command line. Errors print one line and exit non-zero; no traceback reaches the user."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from igcore.benchcli import add_bench_commands
from igcore.clistore import EVENTS_HELP, cluster_of, open_store, ray_options
from igcore.errors import IgcoreError
from igcore.interestcli import add_interest_commands, at_time
from igcore.privacycli import add_privacy_commands
from igcore.recommend.lists import EXCLUDE

EXIT_ERROR = 1
GC_YOUNG = 10_000  # new container objects between collections of the youngest generation (Python's default: 700)
PSEUDONYMIZE_HELP = ("replace user ids by keyed pseudonyms before anything is written, in this import and every "
                     "later one into the store (an empty store only; the key goes beside the store)")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "user", None):
            args.user = _stored_user(args)
        return int(args.run(args) or 0)
    except IgcoreError as exc:
        print(f"igcore: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("igcore: interrupted; the store is unchanged by the unfinished step", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (igcore stats | head -2): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at the exit's flush
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, then a non-zero exit
        print(f"igcore: error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
    return EXIT_ERROR


def run() -> None:
    """The console entry point: :func:`main`, then exit with its status.

    Two settings of Python's cycle collector keep a short command (``igcore update``) short. Its youngest
    generation is collected every ``GC_YOUNG`` new objects instead of every 700, so importing torch and
    torch_geometric does not set off repeated full collections over everything imported so far; and at the end
    the collector is frozen, so the shutdown frees what the libraries left by reference counts alone, without
    searching all of it for cycles. Cycles are still collected while a command runs; exit handlers and
    finalizers run as usual."""
    gc.set_threshold(GC_YOUNG)
    code = main()
    gc.freeze()
    sys.exit(code)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="igcore", description="Interest Graph Studio command line")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, fn: Callable[[argparse.Namespace], int | None], help: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help, description=help)
        cmd.add_argument("--db", help="DuckDB file (default: $IGCORE_DB or data/igcore.duckdb)")
        cmd.set_defaults(run=fn)
        return cmd

    ingest = command("ingest", _ingest, "import an events CSV (and an item catalogue) into the store")
    ingest.add_argument("events", nargs="?", help="events CSV (plain or .gz)")
    ingest.add_argument("--items", help="item catalogue CSV")
    ingest.add_argument("--map", action="append", metavar="COLUMN=FIELD",
                        help="use COLUMN for FIELD (or COLUMN=- to leave it out); repeatable")
    ingest.add_argument("--config", help="TOML or JSON file of ingest settings")
    ingest.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="ingest setting over the file's, e.g. max_file_bytes=100000000")
    ingest.add_argument("--json", action="store_true", help="print the reports as JSON")
    ingest.add_argument("--pseudonymize", action="store_true", help=PSEUDONYMIZE_HELP)

    sample = command("sample", _sample, "load the bundled sample into the store, or --generate a new one")
    sample.add_argument("--generate", metavar="DIR", help="write a freshly generated log to DIR instead")
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--users", type=int, default=2000)
    sample.add_argument("--items", type=int, default=1500)
    sample.add_argument("--events", type=int, default=150_000)
    sample.add_argument("--pseudonymize", action="store_true", help=PSEUDONYMIZE_HELP)

    dataset = command("dataset", _dataset, "load a benchmark dataset from ../shared/data")
    dataset.add_argument("name", help="sample, beauty, toys, taobao, rees46 or industrial")
    dataset.add_argument("--root", help="folder holding the datasets (default ../shared/data)")
    dataset.add_argument("--pseudonymize", action="store_true", help=PSEUDONYMIZE_HELP)

    stats = command("stats", _stats, "what the store holds")
    stats.add_argument("--json", action="store_true")

    quarantine = command("quarantine", _quarantine, "rows set aside by imports, with reasons")
    quarantine.add_argument("--import-id", type=int)
    quarantine.add_argument("--limit", type=int, default=50)

    train = command("train", _train, "train the pipeline on the store's events and save a checkpoint")
    train.add_argument("--config", help="TOML or JSON file of pipeline settings")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="pipeline setting, e.g. epochs=20")
    train.add_argument("--device", help="auto, cpu or cuda (overrides the config)")
    train.add_argument("--out", help="checkpoint folder (default: beside the store, models/<store name>)")
    train.add_argument("--events", dest="event_log", metavar="DIR", help=EVENTS_HELP)
    ray_options(train, "data-parallel training workers")
    train.add_argument("--storage", help="where Ray workers hand the weights back: a folder or URI every node "
                       "reaches (default: a local temporary folder)")

    export = command("export", _export, "write the store's events as Parquet files, one per day (later exports "
                     "write only the days that changed)")
    export.add_argument("--parquet", required=True, metavar="DIR", help="export folder (created if missing)")

    update = command("update", _update, "ingest new events and advance the model's online state (no training)")
    update.add_argument("events", help="events CSV")
    update.add_argument("--model", help="checkpoint folder")
    update.add_argument("--json", action="store_true")

    rec = command("recommend", _recommend, "top-K items for one user from the trained model")
    rec.add_argument("user", help="user id as in the events")
    rec.add_argument("-k", type=int, default=10)
    rec.add_argument("--at", help="as of this time (ISO-8601, UTC): later events are not used")
    rec.add_argument("--explain", action="store_true", help="show supporting past items and source weights")
    rec.add_argument("--exclude", choices=EXCLUDE, default="bought",
                     help="leave out the user's purchases (default), their whole history, or nothing")
    rec.add_argument("--model", help="checkpoint folder")
    rec.add_argument("--json", action="store_true")

    score = command("score", _score, "top-K lists for every user from the trained model, written as Parquet "
                    "(batch scoring; on Ray Data with --workers)")
    score.add_argument("--out", required=True, metavar="DIR", help="lists folder (replaced in whole)")
    score.add_argument("-k", type=int, default=10)
    score.add_argument("--exclude", choices=EXCLUDE, default="bought",
                       help="leave out each user's purchases (default), their whole history, or nothing")
    score.add_argument("--model", help="checkpoint folder")
    score.add_argument("--events", dest="event_log", metavar="DIR", help=EVENTS_HELP)
    ray_options(score, "Ray Data workers scoring the users")

    forget = command("forget", _forget, "remove one user's events, snapshots and model records; compact the store")
    forget.add_argument("user", help="user id as in the events")
    forget.add_argument("--retrain", action="store_true",
                        help="train again afterwards (until then the weights still reflect the user)")
    forget.add_argument("--model", help="checkpoint folder (default: beside the store)")

    add_bench_commands(sub)

    add_interest_commands(command)
    add_privacy_commands(command)

    app = command("app", _app, "start the dashboard (loads the bundled sample into an empty store)")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--address", default="127.0.0.1",
                     help="interface to listen on (default 127.0.0.1: this machine only; any other address needs "
                          "a login, see README 'Running it for a team')")
    return p



def _pseudonymize(args: argparse.Namespace, store) -> None:
    """``--pseudonymize``: the store replaces user ids by keyed pseudonyms from now on (a store setting)."""
    from igcore.privacy import enable
    from igcore.pseudokey import key_path

    if getattr(args, "pseudonymize", False) and enable(store):
        print(f"user ids are pseudonymised in this store from now on; its key: {key_path(store.path)}",
              file=sys.stderr)


def _stored_user(args: argparse.Namespace) -> str:
    """The id a typed USER names in the store: a raw id, in a pseudonymising store with its key file at hand,
    names its pseudonym (igcore.privacy.resolve_user)."""
    from igcore.paths import default_db_path
    from igcore.privacy import resolve_user

    if not Path(args.db or default_db_path()).exists():
        return args.user
    with open_store(args, read_only=True) as store:
        return resolve_user(store, args.user)


def _print_reports(reports: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.as_dict() for r in reports], indent=2, default=str))
    else:
        for r in reports:
            print(r.summary())


def _import_and_refresh(args: argparse.Namespace, files: list[tuple[str, str]], mapping: dict[str, str] | None,
                        config, model: str | None) -> int:
    """Import each (kind, path) through the one after-import service and print what every step did."""
    from igcore.after_import import import_and_refresh
    from igcore.progress import TextProgressBar

    done = []
    with open_store(args) as store:
        _pseudonymize(args, store)
        for kind, path in files:
            done.append(import_and_refresh(store, path, kind, mapping if kind == "events" else None, config,
                                           model_dir=Path(model) if model else None, progress=TextProgressBar()))
    if args.json:
        print(json.dumps([{**a.report.as_dict(), "model": a.model, "snapshots": a.snapshots} for a in done],
                         indent=2, default=str))
    else:
        print("\n".join(line for a in done for line in a.lines()))
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from igcore.config import IngestConfig, load_config, parse_assignments

    if not args.events and not args.items:
        raise IgcoreError("name an events CSV, an --items CSV, or both")
    config = load_config(IngestConfig, args.config, parse_assignments(args.set))
    mapping = dict(parse_assignments(args.map))
    files = [("items", args.items)] * bool(args.items) + [("events", args.events)] * bool(args.events)
    return _import_and_refresh(args, files, mapping, config, None)


def _sample(args: argparse.Namespace) -> int:
    if args.generate:
        from igcore.synth import SynthConfig, generate, write

        cfg = SynthConfig(seed=args.seed, n_users=args.users, n_items=args.items, n_events=args.events)
        for kind, path in write(generate(cfg), args.generate).items():
            print(f"{kind}: {path}")
        return 0
    return _dataset(argparse.Namespace(**{**vars(args), "name": "sample", "root": None}))


def _dataset(args: argparse.Namespace) -> int:
    from igcore.datasets import load_dataset
    from igcore.progress import TextProgressBar

    with open_store(args) as store:
        _pseudonymize(args, store)
        reports = load_dataset(store, args.name, args.root, progress=TextProgressBar())
    _print_reports(reports, False)
    return 0


def _stats(args: argparse.Namespace) -> int:
    import dataclasses

    with open_store(args, read_only=True) as store:
        stats = dataclasses.asdict(store.stats())
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
    else:
        for key, value in stats.items():
            print(f"{key:16} {value}")
    return 0


def _quarantine(args: argparse.Namespace) -> int:
    with open_store(args, read_only=True) as store:
        rows = store.quarantined(args.import_id, args.limit)
    if rows.empty:
        print("no quarantined rows")
    for r in rows.itertuples():
        print(f"import {r.import_id} line {r.line_no}: {r.reason}\n    {r.raw_line[:200] if r.raw_line else ''}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from igcore.config import load_config, parse_assignments
    from igcore.pipeline.config import PipelineConfig
    from igcore.pipeline.run import train
    from igcore.pipeline.samples import ROW_NAMES
    from igcore.progress import TextProgressBar

    overrides = parse_assignments(args.set)
    if args.device:
        overrides["device"] = args.device
    config = load_config(PipelineConfig, args.config, overrides)
    with open_store(args) as store:
        model, path = train(store, config, Path(args.out) if args.out else None, TextProgressBar(), cluster_of(args))
    best = max((e.get("valid_ndcg@10", 0) for e in model.log), default=0)
    graph = model.scored_graph
    chosen = model.graph_choice.get(graph.weight) if graph is not None else None
    with_graph = f"; with the graph at the score, weight {graph.weight:g}" if graph is not None else ""
    with_graph += f" (validation NDCG@10 {chosen:.4f})" if chosen is not None else ""
    print(f"trained {model.name} for {len(model.log)} epochs on {ROW_NAMES[model.samples]} (best validation NDCG@10 "
          f"{best:.4f}{with_graph}); saved {path}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from igcore.pipeline.batch import score_all

    with open_store(args, read_only=True) as store:
        report = score_all(store, Path(args.out), args.k, args.exclude, Path(args.model) if args.model else None,
                           cluster_of(args), Path(args.event_log) if args.event_log else None)
    print(report.summary())
    return 0


def _export(args: argparse.Namespace) -> int:
    from igcore.eventlog import export_parquet

    with open_store(args) as store:
        print(export_parquet(store, Path(args.parquet)).summary())
    return 0


def _update(args: argparse.Namespace) -> int:
    return _import_and_refresh(args, [("events", args.events)], None, None, args.model)


def _recommend(args: argparse.Namespace) -> int:
    from igcore.dp import PER_USER_NOTE
    from igcore.numbers import fixed, percent_labels
    from igcore.pipeline.run import recommend

    with open_store(args, read_only=True) as store:
        rows = recommend(store, args.user, args.k, at_time(args.at), Path(args.model) if args.model else None,
                         args.explain, args.exclude)
    print(PER_USER_NOTE, file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        if "sources" in row:  # the gate's weights: parts of one whole, so their percents add to 100
            sources = row["sources"]
            print("interest sources: " + ", ".join(f"{k} {p}" for k, p in zip(sources, percent_labels(
                list(sources.values())), strict=True)))
            continue
        print(f"{row['rank']:>3}. {row['item_id']}  {row['title'] or ''}  ({fixed(row['score'], 3)})")
        for why in row.get("because_of", []):
            print(f"       because of {why['item_id']} {why['title'] or ''} "
                  f"(similarity {fixed(why['similarity'], 2)})")
        for why in row.get("chosen_with", []):
            print(f"       chosen together with {why['item_id']} {why['title'] or ''} (link {fixed(why['link'], 2)})")
    return 0


def _forget(args: argparse.Namespace) -> int:
    from igcore.forget import forget
    from igcore.paths import default_db_path
    from igcore.progress import TextProgressBar

    report = forget(Path(args.db) if args.db else default_db_path(), args.user, "cli",
                    Path(args.model) if args.model else None, args.retrain, TextProgressBar())
    print("\n".join(report.lines()), file=sys.stdout if report.plan.known else sys.stderr)
    return 0 if report.plan.known else EXIT_ERROR


def _app(args: argparse.Namespace) -> int:
    from igcore.dashboard.serve import check_start
    from igcore.paths import REPO_ROOT, default_db_path
    from igcore.store import db_key

    check_start(args.address)  # a non-local address without a login is refused here, before the server starts
    env = dict(os.environ)
    if args.db:
        env["IGCORE_DB"] = str(Path(args.db).resolve())
    db_key(env)  # an unreadable or open-to-others key file is refused now rather than on the first page
    _prepare_store(Path(env["IGCORE_DB"]) if args.db else default_db_path())
    cmd = [sys.executable, "-c", _STREAMLIT_V2, "run", str(REPO_ROOT / "app.py"), "--server.port", str(args.port),
           "--server.address", args.address, "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    os.execve(sys.executable, cmd, env)  # this process becomes the server: a signal to it stops the server


def _prepare_store(path: Path) -> None:
    """Make the store ready before the server answers (the first start loads the bundled sample, builds its
    snapshots and warms the pages' imports here, with a progress bar), so the first page only draws."""
    from igcore.dashboard.overview import prepare_store
    from igcore.dashboard.serve import warm_imports
    from igcore.progress import TextProgressBar

    first = not path.exists()
    if first:
        print(f"first start: loading the bundled sample into {path} and building its interest snapshots",
              file=sys.stderr)
    for line in prepare_store(path, TextProgressBar()):
        print(line.splitlines()[0], file=sys.stderr)
    if first:
        warm_imports()


# Streamlit's command line, started with its legacy pages/ discovery already off (igcore.dashboard.serve says why).
_STREAMLIT_V2 = "import sys; from igcore.dashboard.serve import main; main(sys.argv[1:])"


if __name__ == "__main__":
    run()
