"""An interest graph and a user's snapshot timeline as plain text, for a terminal (``igcore interests``)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from igcore.interests.graph import InterestGraph
from igcore.interests.snapshots import UserTimeline
from igcore.numbers import clean, fixed, percent_text, significant, whole_percents


def graph_text(graph: InterestGraph) -> str:
    """Interests with their shares and top items, the strongest edges, the recommendations with the interests
    behind them, and the change points. The shares of each kind's interests are whole percents that add to
    100, and so are the reasons of each recommendation (see :func:`reasons`)."""
    labels = {n["interest"]: n["label"] for n in graph.nodes}
    counts = Counter(labels.values())  # two nodes of one label (a model's slots can share one) get their ids
    labels = {k: f"{v} ({k})" if counts[v] > 1 else v for k, v in labels.items()}
    lines = [f"user {graph.user_id} at {graph.at}: {graph.n_events} events; interests by {', '.join(graph.kinds)}"]
    for n, percent in zip(graph.nodes, node_percents(graph.nodes), strict=True):
        predicted = "" if n["predicted"] is None else f", predicted {percent_text(n['predicted'])}"
        lines.append(f"  {f'{percent}%':>5}  {n['label']}  ({n['interest']}; weight {significant(n['weight'])}, "
                     f"{n['events']} events{predicted})")
        lines += [f"         {item['item_id']}  {item['title'] or ''}" for item in n["top_items"]]
    for e in graph.edges[:10]:
        arrow = "->" if e["kind"] == "transition" else "<->"
        lines.append(f"  {labels.get(e['src'], e['src'])} {arrow} {labels.get(e['dst'], e['dst'])}  "
                     f"{e['kind']} {significant(e['weight'])}")
    lines.append(f"recommendations ({graph.scorer}):")
    for r in graph.recommendations:
        lines.append(f"  {r['rank']:>3}. {r['item_id']}  {r['title'] or ''}  ({fixed(r['score'], 3)})  because of "
                     f"{reasons(r['explanation']['interests'])}")
    for c in graph.changes:
        faded = f", {c.get('faded_label') or labels.get(c['faded'], c['faded'])} faded" if c["faded"] else ""
        lines.append(f"  change at event {c['event_index']} ({c['ts']}): {c['label']} emerged{faded} "
                     f"(JSD {fixed(c['jsd'], 2)})")
    return "\n".join(lines)


def node_percents(nodes: list[dict[str, Any]]) -> list[int]:
    """Each node's share as a whole percent, rounded within its kind (the shares of one kind are the parts of
    one whole) so that each kind's percents add to 100."""
    out = [0] * len(nodes)
    for kind in dict.fromkeys(n["kind"] for n in nodes):
        at = [i for i, n in enumerate(nodes) if n["kind"] == kind]
        for i, percent in zip(at, whole_percents([clean(nodes[i]["share"]) for i in at]), strict=True):
            out[i] = percent
    return out


def reasons(parts: list[dict[str, Any]], shown: int = 2) -> str:
    """``"Tea 62%, Coffee 38%"``: the ``shown`` interests that speak most for an item, as whole percents of what
    speaks for it. A score's parts can be negative (an interest that pulls it down), so the parts with a
    positive share make up the whole here: their percents add to 100, the ones shown never to more, and none
    reads above 100%. A dash when no part speaks for the item; parts under half a percent are not shown."""
    support = [max(clean(p["share"]), 0.0) if p["share"] is not None and math.isfinite(p["share"]) else 0.0
               for p in parts]
    total = math.fsum(support)
    if total <= 0:
        return "-"
    percents = whole_percents([s / total for s in support])
    strongest = sorted((i for i, percent in enumerate(percents) if percent > 0), key=lambda i: -percents[i])
    return ", ".join(f"{parts[i]['label']} {percents[i]}%" for i in strongest[:shown]) or "-"


def timeline_text(found: UserTimeline) -> str:
    """One line a stored snapshot: time, events covered, the top interest, divergence and what moved."""
    top = found.weights.sort_values("share", ascending=False).drop_duplicates("snapshot_no").set_index(
        "snapshot_no")["label"]
    lines = []
    for s in found.snapshots.itertuples():
        jsd = "" if s.jsd != s.jsd else f"  JSD {fixed(s.jsd, 2)}"
        moves = "".join(f"  +{i}" for i in s.emerging) + "".join(f"  -{i}" for i in s.fading)
        lines.append(f"{s.snapshot_no:>4}  {s.snapshot_at}  {s.n_events:>5} events  top "
                     f"{top.get(s.snapshot_no, '-')}{jsd}{moves}")
    return "\n".join(lines)
