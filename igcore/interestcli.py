"""``igcore snapshots``, ``interests`` and ``drift``: the interest-graph commands' parsers and handlers (kept
beside :mod:`igcore.cli`, which adds them, so that the command line's own module stays one concept)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from igcore.clistore import EVENTS_HELP, cluster_of, open_store, ray_options
from igcore.errors import IgcoreError

SHARE_COLUMNS = ("share_before", "share_after", "change")  # the trend's mean shares and their change: percents
Command = Callable[[str, Callable[[argparse.Namespace], "int | None"], str], argparse.ArgumentParser]


def add_interest_commands(command: Command) -> None:
    """Add the commands through ``command(name, handler, help)``, which gives each its ``--db``."""
    snapshots = command("snapshots", _snapshots,
                        "build interest snapshots for every user, or update them for events imported since")
    snapshots.add_argument("--rebuild", action="store_true", help="rebuild from scratch (needed to change settings)")
    snapshots.add_argument("--config", help="TOML or JSON file of interest settings")
    snapshots.add_argument("--set", action="append", metavar="KEY=VALUE",
                           help="interest setting, e.g. cadence=day or half_life_days=7")
    snapshots.add_argument("--model", nargs="?", const="", metavar="DIR",
                           help="add the trained model's predicted affinities and top-K (default checkpoint if no DIR)")
    snapshots.add_argument("--events", dest="event_log", metavar="DIR", help=EVENTS_HELP)
    ray_options(snapshots, "Ray Data workers building a --rebuild (they read the --events export)")
    snapshots.add_argument("--json", action="store_true")

    interests = command("interests", _interests, "one user's interest graph: interests, edges, top-K with reasons")
    interests.add_argument("user", help="user id as in the events")
    interests.add_argument("--at", help="as of this time (ISO-8601, UTC): later events are not used")
    interests.add_argument("--json", action="store_true", help="print the graph as JSON")
    interests.add_argument("--html", metavar="FILE", help="also write the graph as one self-contained HTML file")
    interests.add_argument("--timeline", action="store_true", help="print the stored snapshots instead")
    interests.add_argument("--model", nargs="?", const="", metavar="DIR",
                           help="use the trained model (default checkpoint if no DIR): its interest slots are the "
                                "graph when it has them (trained with interests=K), else it adds predictions and "
                                "top-K to the observed graph")
    interests.add_argument("--observed", action="store_true",
                           help="with --model: the observed graph (decayed evidence) instead of the model's slots")

    drift = command("drift", _drift, "interests rising and fading across users, and users by change points "
                    "(private releases: noisy, cached, charged to the store's privacy budget)")
    drift.add_argument("--top", type=int, default=10, help="rows of each list")
    drift.add_argument("--days", type=float, default=30.0, help="compare with the state this many days earlier")
    drift.add_argument("--user", help="one user's drift timeline instead (not a private release)")
    drift.add_argument("--changes", action="store_true",
                       help="also list the latest change points of single users (not a private release)")
    drift.add_argument("--json", action="store_true")



def _model_scorer(args: argparse.Namespace, store, at=None, ray: bool = False):
    """The trained model named by ``--model`` (its default checkpoint for a bare ``--model``), or None; for Ray
    workers, its serving state (arrays, not the network)."""
    if args.model is None:
        return None
    from igcore.interests.scoring import ModelScorer

    path = Path(args.model) if args.model else None
    return ModelScorer.from_serving(store, path) if ray else ModelScorer.from_checkpoint(store, path, at)


def at_time(text: str | None):
    import datetime as dt

    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC).replace(tzinfo=None)
    except ValueError as exc:
        raise IgcoreError(f"--at {text!r} is not an ISO-8601 time") from exc


def _snapshots(args: argparse.Namespace) -> int:
    from igcore.config import load_config, parse_assignments
    from igcore.interests.config import InterestConfig
    from igcore.interests.snapshots import build_snapshots, stored_config, update_snapshots
    from igcore.progress import TextProgressBar

    overrides = parse_assignments(args.set)
    cluster = cluster_of(args)
    with open_store(args) as store:
        current = stored_config(store)
        if cluster is not None and not (args.rebuild or current is None):
            raise IgcoreError("--workers builds snapshots from scratch: add --rebuild (an update runs here)")
        model = _model_scorer(args, store, ray=cluster is not None)
        if args.rebuild or current is None:
            config = load_config(InterestConfig, args.config, overrides)
            report = build_snapshots(store, config, model, TextProgressBar(), cluster=cluster,
                                     event_log=Path(args.event_log) if args.event_log else None)
        else:
            if args.config or overrides:
                wanted = load_config(InterestConfig, args.config, overrides)
                if wanted != current:
                    raise IgcoreError("the snapshots were built with other settings; add --rebuild to apply these")
            report = update_snapshots(store, model, TextProgressBar())
    if args.json:
        import dataclasses

        print(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        print(report.summary())
    return 0


def _interests(args: argparse.Namespace) -> int:
    from igcore.dp import PER_USER_NOTE
    from igcore.interests.export import graph_json, write_html
    from igcore.interests.graph import interest_graph
    from igcore.interests.model_graph import shown_graph
    from igcore.interests.snapshots import timeline
    from igcore.interests.text import graph_text, timeline_text

    at = at_time(args.at)
    with open_store(args, read_only=True) as store:
        if args.timeline:
            found = timeline(store, args.user)
            if found.snapshots.empty:
                raise IgcoreError(f"no snapshots of user {args.user!r} (unknown user, or too few events)")
            if args.json:
                print(json.dumps({k: v.to_dict("records") for k, v in vars(found).items() if k != "user_id"},
                                 indent=2, default=str))
            else:
                print(timeline_text(found))
            print(PER_USER_NOTE, file=sys.stderr)
            return 0
        model = _model_scorer(args, store, at)
        graph = interest_graph(store, args.user, at, model) if args.observed else \
            shown_graph(store, args.user, model, at)
    print(PER_USER_NOTE, file=sys.stderr)
    if args.html:
        print(f"wrote {write_html(graph, args.html)}", file=sys.stderr)
    if args.json:
        print(graph_json(graph))
        return 0
    print(graph_text(graph))
    return 0


def _drift(args: argparse.Namespace) -> int:
    from igcore.dp import PER_USER_NOTE
    from igcore.interests.drift import drift_timeline, recent_changes
    from igcore.numbers import format_table

    notes: list[str] = []
    frames: dict = {} if args.user else _private_drift(args, notes)
    if args.user or args.changes:
        with open_store(args, read_only=True) as store:
            frames.update({"timeline": drift_timeline(store, args.user)} if args.user else
                          {"changes": recent_changes(store, args.top)})
        notes.append(("changes: " if not args.user else "") + PER_USER_NOTE)
    if args.json:
        print(json.dumps({k: v.to_dict("records") if hasattr(v, "to_dict") else v for k, v in frames.items()},
                         indent=2, default=str))
    else:
        for name, frame in frames.items():
            if name != "privacy":
                print(f"{name}:")
                print(textwrap.indent(format_table(frame, percent=SHARE_COLUMNS, decimals={"jsd": 2}), "  ")
                      if len(frame) else "  (none)")
    print("\n".join(notes), file=sys.stderr)
    return 0


def _private_drift(args: argparse.Namespace, notes: list[str]) -> dict:
    """The cohort's trend and users by change points as private releases (igcore.dp), and what they cost."""
    from igcore.dp import cohorts as private
    from igcore.dp.ledger import accounting, release
    from igcore.paths import default_db_path

    path = Path(args.db) if args.db else default_db_path()
    trend, points = release(path, private.trend_query(args.days)), release(path, private.change_points_query())
    with open_store(args, read_only=True) as store:
        account = accounting(store)
    notes += [f"trend: {trend.caption()}", f"change points: {points.caption()}", account.summary()]
    frame = trend.frame.dropna(subset=["change"])
    return {"rising": frame.head(args.top), "fading": frame.sort_values(["change", "interest"]).head(args.top),
            "change_points": points.frame,
            "privacy": {"epsilon_spent_now": float(trend.spent + points.spent), "budget": float(account.budget),
                        "spent": float(account.spent), "min_cohort": trend.min_cohort}}
