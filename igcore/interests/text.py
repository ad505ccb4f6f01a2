"""An interest graph and a user's snapshot timeline as plain text, for a terminal (``igcore interests``)."""

from __future__ import annotations

from collections import Counter

from igcore.interests.graph import InterestGraph
from igcore.interests.snapshots import UserTimeline


def graph_text(graph: InterestGraph) -> str:
    """Interests with their shares and top items, the strongest edges, the recommendations with the interests
    behind them, and the change points."""
    labels = {n["interest"]: n["label"] for n in graph.nodes}
    counts = Counter(labels.values())  # two nodes of one label (a model's slots can share one) get their ids
    labels = {k: f"{v} ({k})" if counts[v] > 1 else v for k, v in labels.items()}
    lines = [f"user {graph.user_id} at {graph.at}: {graph.n_events} events; interests by {', '.join(graph.kinds)}"]
    for n in graph.nodes:
        predicted = "" if n["predicted"] is None else f", predicted {n['predicted']:.0%}"
        lines.append(f"  {n['share']:5.0%}  {n['label']}  ({n['interest']}; weight {n['weight']:.3g}, "
                     f"{n['events']} events{predicted})")
        lines += [f"         {item['item_id']}  {item['title'] or ''}" for item in n["top_items"]]
    for e in graph.edges[:10]:
        arrow = "->" if e["kind"] == "transition" else "<->"
        lines.append(f"  {labels.get(e['src'], e['src'])} {arrow} {labels.get(e['dst'], e['dst'])}  "
                     f"{e['kind']} {e['weight']:.3g}")
    lines.append(f"recommendations ({graph.scorer}):")
    for r in graph.recommendations:
        why = ", ".join(f"{p['label']} {p['share']:.0%}" for p in r["explanation"]["interests"][:2]
                        if p["share"] is not None and p["share"] >= 0.005)
        lines.append(f"  {r['rank']:>3}. {r['item_id']}  {r['title'] or ''}  ({r['score']:.3f})  because of "
                     f"{why or '-'}")
    for c in graph.changes:
        faded = f", {c.get('faded_label') or labels.get(c['faded'], c['faded'])} faded" if c["faded"] else ""
        lines.append(f"  change at event {c['event_index']} ({c['ts']}): {c['label']} emerged{faded} "
                     f"(JSD {c['jsd']:.2f})")
    return "\n".join(lines)


def timeline_text(found: UserTimeline) -> str:
    """One line a stored snapshot: time, events covered, the top interest, divergence and what moved."""
    top = found.weights.sort_values("share", ascending=False).drop_duplicates("snapshot_no").set_index(
        "snapshot_no")["label"]
    lines = []
    for s in found.snapshots.itertuples():
        jsd = "" if s.jsd != s.jsd else f"  JSD {s.jsd:.2f}"
        moves = "".join(f"  +{i}" for i in s.emerging) + "".join(f"  -{i}" for i in s.fading)
        lines.append(f"{s.snapshot_no:>4}  {s.snapshot_at}  {s.n_events:>5} events  top "
                     f"{top.get(s.snapshot_no, '-')}{jsd}{moves}")
    return "\n".join(lines)
