"""Export of one user's interest graph: JSON, and one self-contained HTML file (pyvis, nothing fetched).

HTML safety: text from data (user and item ids, titles, labels) reaches the network only as JSON inside pyvis'
script (its ``tojson`` writes ``<``, ``>``, ``&`` and quotes as unicode escapes), vis-network draws labels on a
canvas and sets tooltips with ``innerText``, and nodes get generated ids; the heading and the tables are
``html.escape``d. So a title holding ``<script>`` or ``<img onerror=...>`` shows as typed and never runs.
pyvis' template links Bootstrap from a CDN and comments out a local vis.js; both are removed, and vis-network
itself is in-lined.
"""

from __future__ import annotations

import functools
import html
import json
import re
from pathlib import Path

from igcore.interests.graph import InterestGraph

_EXTERNAL = (
    re.compile(r"<!--\s*<link[^>]*node_modules.*?-->", re.S),
    re.compile(r"<link\b[^>]*href=\"https?://[^\"]*\"[^>]*>", re.S),
    re.compile(r"<script\b[^>]*src=\"https?://[^\"]*\"[^>]*>\s*</script>", re.S),
)
COLORS = {"user": "#f4a261", "interest": "#2a9d8f", "item": "#a8dadc", "recommended": "#e76f51"}


@functools.cache
def _template_env(template_dir: str):
    """One jinja environment per template folder, so pyvis' template is parsed once per process, not per graph."""
    from jinja2 import Environment, FileSystemLoader

    return Environment(loader=FileSystemLoader(template_dir))


def graph_json(graph: InterestGraph) -> str:
    return json.dumps(graph.to_dict(), indent=2, ensure_ascii=False)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def graph_html(graph: InterestGraph) -> str:
    """The graph as one HTML page: the network (user, interests, their top items, recommendations) and
    tables of interests, recommendations with their explanations, and change points."""
    from pyvis.network import Network

    net = Network(height="620px", width="100%", directed=True, cdn_resources="in_line")
    net.templateEnv = _template_env(net.template_dir)  # compiled once: pyvis makes a new environment per network
    net.add_node("u", label=graph.user_id, title=f"user {graph.user_id} at {graph.at}", shape="star",
                 color=COLORS["user"], size=30)
    ids = {}
    for i, n in enumerate(graph.nodes):
        ids[n["interest"]] = f"i{i}"
        predicted = "" if n["predicted"] is None else f", predicted {n['predicted']:.1%}"
        net.add_node(f"i{i}", label=_short(n["label"]), color=COLORS["interest"], size=10 + 30 * n["share"],
                     title=f"{n['label']} ({n['interest']}): share {n['share']:.1%}, weight {n['weight']:.3g}, "
                           f"{n['events']} events{predicted}")
        net.add_edge("u", f"i{i}", value=n["share"], title=f"share {n['share']:.1%}")
        for j, item in enumerate(n["top_items"]):
            node = f"i{i}t{j}"
            name = item["title"] or item["item_id"]
            net.add_node(node, label=_short(name), shape="box", color=COLORS["item"],
                         title=f"{name} ({item['item_id']}): {item['events']} events, weight {item['weight']:.3g}")
            net.add_edge(f"i{i}", node, value=item["weight"])
    for e in graph.edges:
        if e["src"] in ids and e["dst"] in ids:
            net.add_edge(ids[e["src"]], ids[e["dst"]], value=e["weight"], dashes=e["kind"] == "cooccurrence",
                         arrows="to" if e["kind"] == "transition" else "", title=f"{e['kind']} {e['weight']:.3g}")
    for r in graph.recommendations:
        node = f"r{r['rank']}"
        name = r["title"] or r["item_id"]
        net.add_node(node, label=f"#{r['rank']} {_short(name)}", shape="box", color=COLORS["recommended"],
                     title=f"{name} ({r['item_id']}): score {r['score']:.3g}")
        for part in r["explanation"]["interests"][:2]:
            if part["interest"] in ids and part["contribution"] > 0:
                net.add_edge(ids[part["interest"]], node, dashes=True, title=f"supports {part['share']:.0%}")
    page = net.generate_html()
    for pattern in _EXTERNAL:
        page = pattern.sub("", page)
    heading = f"<h1>Interests of {_e(graph.user_id)} at {_e(graph.at)}</h1>"
    page = page.replace("<h1></h1>", heading, 1)
    return page.replace("</body>", _tables(graph) + "\n</body>", 1)


def _tables(graph: InterestGraph) -> str:
    def table(head: list[str], rows: list[list[object]]) -> str:
        cells = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
        return ("<table border=\"1\" cellpadding=\"4\"><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head)
                + f"</tr>{cells}</table>")

    interests = [[n["label"], n["interest"], f"{n['share']:.1%}", f"{n['weight']:.3g}", n["events"],
                  "" if n["predicted"] is None else f"{n['predicted']:.1%}",
                  "; ".join(i["title"] or i["item_id"] for i in n["top_items"])] for n in graph.nodes]
    recs = [[r["rank"], r["title"] or r["item_id"], f"{r['score']:.3g}", r["label"] or "",
             "; ".join(f"{p['label']} {p['contribution']:+.3g}" for p in r["explanation"]["interests"][:3])]
            for r in graph.recommendations]
    changes = [[c["event_index"], c["ts"], c["label"], c["faded"] or "", f"{c['jsd']:.2f}"] for c in graph.changes]
    interest_head = ["interest", "id", "share", "weight", "events", "predicted", "top items"]
    return ("<div style=\"padding:1em;font-family:sans-serif\">"
            f"<h2>Interests</h2>{table(interest_head, interests)}"
            f"<h2>Recommendations ({_e(graph.scorer)})</h2>"
            f"{table(['rank', 'item', 'score', 'interest', 'supported by (contribution)'], recs)}"
            f"<h2>Change points</h2>{table(['event', 'time', 'new interest', 'faded', 'JSD'], changes)}</div>")


def write_html(graph: InterestGraph, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(graph_html(graph), encoding="utf-8")
    return path
