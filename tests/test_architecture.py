"""The house shows the pipeline: imports flow one way, from the pages down to the core.

Every module under igcore/ and pages/ is read as source (imports inside functions included) and checked
against the layering docs/ARCHITECTURE.md draws. The checks read the AST, so they fail on an import that only
runs on some code path too.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORE = {"igcore.events", "igcore.eventlog", "igcore.store", "igcore.ranking", "igcore.errors", "igcore.paths",
        "igcore.config", "igcore.progress", "igcore.device", "igcore.csvsafe", "igcore.storekey", "igcore.pseudokey",
        "igcore.storekeep"}
STAGES = {"igcore.encode", "igcore.embed", "igcore.update", "igcore.decode", "igcore.recommend", "igcore.pipeline"}
ABOVE_STAGES = ("igcore.evaluate", "igcore.dashboard", "igcore.interests", "igcore.after_import", "streamlit")
PAGE_ALLOWED = ("streamlit", "plotly", "pyvis", "pages.common", "igcore.dashboard")
FIGURE = re.compile(r"(?<![:\w.])\d+\.\d+\s?(?:s|ms|%)(?![\w-])"  # 16.6 s, 5.71 ms, 12.5% (not a format spec)
                    r"|NDCG\S*\s+(?:\w+\s+)?\d*\.\d+|\d*\.\d+\s+NDCG"  # NDCG@10 0.0507, NDCG@10 was .05
                    r"|(?:~|about |took )\d[\d,.]*\s?(?:CPU-)?(?:s|ms|%|min)\b")  # ~77 CPU-s, about 12 s


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, anywhere in the file, as absolute names."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return [name for name in out if name and name != "__future__"]


def unit(module: str) -> str:
    """The package a module belongs to for layering: igcore.X for igcore/X/... and igcore/X.py."""
    return ".".join(module.split(".")[:2])


def modules(folder: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((REPO / folder).rglob("*.py"))}


def within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules("igcore").items():
        for imported in imports(path):
            if imported.startswith("igcore.") and unit(imported) != unit(name):
                graph[unit(name)].add(unit(imported))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected set of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_no_cycle_between_packages():
    assert cycles(package_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_stages_never_import_what_sits_above_them():
    bad = [(name, imported) for name, path in modules("igcore").items() if within(unit(name), STAGES)
           for imported in imports(path) if within(imported, ABOVE_STAGES)]
    assert bad == []


def test_the_core_imports_only_the_core():
    bad = [(name, imported) for name, path in modules("igcore").items() if name in CORE
           for imported in imports(path) if imported.startswith("igcore") and unit(imported) not in CORE]
    assert bad == []


def test_pages_import_only_drawing_libraries_common_and_the_dashboard_layer():
    stdlib = sys.stdlib_module_names
    bad = [(name, imported) for name, path in modules("pages").items() for imported in imports(path)
           if imported.split(".")[0] not in stdlib and not within(imported, PAGE_ALLOWED)
           and imported != "pages"]  # the package itself, as in `from pages import common`
    assert bad == []


def test_the_import_reader_sees_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    pkg = tmp_path / "igcore" / "demo"
    pkg.mkdir(parents=True)
    (pkg / "mod.py").write_text("def f():\n    from igcore.evaluate import bench\n    from . import other\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert imports(pkg / "mod.py") == ["igcore.evaluate", "igcore.evaluate.bench", "igcore.demo",
                                       "igcore.demo.other"]


def test_no_module_in_igcore_is_over_400_lines():
    long = {name: n for name, path in modules("igcore").items() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def prose_files() -> list[Path]:
    """Where a measured figure must not be written: code, tests, bench scripts and the README (figures live in
    docs/ and bench/results/, written by bench runs)."""
    files = [REPO / "README.md", REPO / "app.py"]
    for folder in ("igcore", "pages", "tests", "bench"):
        files += sorted((REPO / folder).rglob("*.py"))
    return [f for f in files if f != Path(__file__).resolve()]  # this file's own examples below


def test_no_measured_figure_in_code_comments_docstrings_or_the_readme():
    found = [f"{path.relative_to(REPO)}:{no}: {line.strip()}" for path in prose_files()
             for no, line in enumerate(path.read_text().splitlines(), 1) if FIGURE.search(line)]
    assert found == []


def test_the_figure_pattern_catches_timings_shares_and_ndcg():
    hits = ["took 16.6 s", "p99 5.71 ms", "12.5% faster", "NDCG@10 0.0507", "igcore 0.0491 NDCG", "NDCG@10 was .05",
            "~77 CPU-s fixed", "about 12 s here", "took 3 min"]
    misses = ["lr = 0.001", "version 0.16", "0.5 * x", "f'{x:.2f} s'", "f'{share:5.0%}'", '{"ndcg@10": 0.05}']
    assert [bool(FIGURE.search(t)) for t in hits] == [True] * len(hits)
    assert [bool(FIGURE.search(t)) for t in misses] == [False] * len(misses)
