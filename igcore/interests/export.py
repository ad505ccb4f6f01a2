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
from igcore.interests.layout import FONT_PX, Box, box_size, radial_layout

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


FONT = "'Source Sans Pro', 'Source Sans 3', system-ui, sans-serif"  # the dashboard's face where installed
DRAWN_INTERESTS, DRAWN_ITEMS, DRAWN_RECS = 8, 3, 5  # what the picture holds; the tables hold the rest
LABEL_CHARS = 26
_STYLE = ("<style>body{font-family:" + FONT + ";margin:0;color:#31333f} h1{font-size:1rem;font-weight:600;"
          "margin:.3rem 0 .2rem} .legend{font-size:.8rem;margin-bottom:.3rem} .legend span{margin-right:1rem}"
          " .legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-.1rem;"
          "border-radius:2px} table{border-collapse:collapse;font-size:.85rem} td,th{padding:2px 6px}</style>")


def graph_html(graph: InterestGraph, tables: bool = True) -> str:
    """The graph as one HTML page: the network (the user at the centre, the strongest interests around it sized
    by share, each with the user's top items and the recommendations it supports in its own sector, at fixed
    positions from :mod:`igcore.interests.layout`) and, with ``tables``, every interest, recommendation and
    change point as tables (the dashboard shows its own tables and leaves them out)."""
    from pyvis.network import Network

    net = Network(height="600px", width="100%", directed=True, cdn_resources="in_line")
    net.templateEnv = _template_env(net.template_dir)  # compiled once: pyvis makes a new environment per network
    font = {"face": FONT, "size": FONT_PX, "color": "#31333f"}
    nodes: list[dict] = []

    def node(node_id: str, label: str, shape: str, color: str, title: str, ring: int, parent: str | None = None,
             size: float = 0.0) -> None:
        nodes.append({"n_id": node_id, "label": label, "shape": shape, "color": color, "title": title,
                      "size": size or None, "font": font,
                      "box": Box(node_id, *box_size(label, shape, size), ring, parent)})

    node("u", _short(graph.user_id, LABEL_CHARS), "star", COLORS["user"], f"user {graph.user_id} at {graph.at}",
         0, size=24)
    ids, edges = {}, []
    for i, n in enumerate(graph.nodes[:DRAWN_INTERESTS]):
        ids[n["interest"]] = f"i{i}"
        predicted = "" if n["predicted"] is None else f", predicted {n['predicted']:.1%}"
        node(f"i{i}", _short(n["label"], LABEL_CHARS), "dot", COLORS["interest"],
             f"{n['label']} ({n['interest']}): share {n['share']:.1%}, weight {n['weight']:.3g}, "
             f"{n['events']} events{predicted}", 1, size=8 + 24 * n["share"])
        edges.append(("u", f"i{i}", {"width": 1 + 6 * n["share"], "title": f"share {n['share']:.1%}"}))
        heaviest = max([item["weight"] for item in n["top_items"]], default=0.0) or 1.0
        for j, item in enumerate(n["top_items"][:DRAWN_ITEMS]):
            name = item["title"] or item["item_id"]
            node(f"i{i}t{j}", _short(name, LABEL_CHARS), "box", COLORS["item"],
                 f"{name} ({item['item_id']}): {item['events']} events, weight {item['weight']:.3g}", 2, f"i{i}")
            edges.append((f"i{i}", f"i{i}t{j}", {"width": 1 + 3 * item["weight"] / heaviest}))
    for e in graph.edges:
        if e["src"] in ids and e["dst"] in ids:
            edges.append((ids[e["src"]], ids[e["dst"]], {
                "width": 1, "dashes": e["kind"] == "cooccurrence",
                "arrows": "to" if e["kind"] == "transition" else "", "title": f"{e['kind']} {e['weight']:.3g}"}))
    for r in graph.recommendations[:DRAWN_RECS]:
        name = r["title"] or r["item_id"]
        support = [p for p in r["explanation"]["interests"][:2] if p["interest"] in ids and p["contribution"] > 0]
        node(f"r{r['rank']}", f"#{r['rank']} {_short(name, LABEL_CHARS)}", "box", COLORS["recommended"],
             f"{name} ({r['item_id']}): score {r['score']:.3g}", 3, ids[support[0]["interest"]] if support else None)
        edges += [(ids[p["interest"]], f"r{r['rank']}", {"dashes": True, "title": f"supports {p['share']:.0%}"})
                  for p in support]
    where = radial_layout([n["box"] for n in nodes])
    for n in nodes:
        box = n.pop("box")
        x, y = where[box.id]
        net.add_node(**{k: v for k, v in n.items() if v is not None}, x=x, y=y, physics=False)
    for src, dst, options in edges:
        net.add_edge(src, dst, **options)
    net.toggle_physics(False)
    net.set_edge_smooth("continuous")
    page = net.generate_html()
    for pattern in _EXTERNAL:
        page = pattern.sub("", page)
    heading = f"<h1>Interests of {_e(graph.user_id)} at {_e(graph.at)}</h1>{_legend()}"
    page = page.replace("<h1></h1>", heading, 1).replace("</head>", _STYLE + "</head>", 1)
    return page.replace("</body>", (_tables(graph) if tables else "") + "\n</body>", 1)


def _legend() -> str:
    parts = [("user", "the user"), ("interest", "interest (size: share of recent behaviour)"),
             ("item", "items of the user's under an interest"), ("recommended", "recommended (#rank)")]
    return "<div class=\"legend\">" + "".join(
        f"<span><i style=\"background:{COLORS[k]}\"></i>{_e(text)}</span>" for k, text in parts) + "</div>"


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
    return ("<div style=\"padding:1em\">"
            f"<h2>Interests</h2>{table(interest_head, interests)}"
            f"<h2>Recommendations ({_e(graph.scorer)})</h2>"
            f"{table(['rank', 'item', 'score', 'interest', 'supported by (contribution)'], recs)}"
            f"<h2>Change points</h2>{table(['event', 'time', 'new interest', 'faded', 'JSD'], changes)}</div>")


def write_html(graph: InterestGraph, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(graph_html(graph), encoding="utf-8")
    return path
