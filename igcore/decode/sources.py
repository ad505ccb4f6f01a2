"""The names of the sources the decoder fuses, without torch (the CLI labels gate weights with them)."""

from __future__ import annotations

SOURCES = ("sequence", "graph", "memory")


def source_names(use_graph: bool, use_temporal: bool) -> list[str]:
    """The sources a configuration fuses, in gate order."""
    return [name for name, on in zip(SOURCES, (True, use_graph, use_temporal)) if on]
