"""What a trained pipeline's decoder does for the users it holds, reported beside its benchmark row: the gate's
mean weight on each source (sequence state, graph user vector, TGN memory), with interest slots how a user's
weight spreads over them, and with the graph at the score the weight validation chose for it. An ablation row
is read against these: a stage the gate barely hears cannot be what a row's difference comes from."""

from __future__ import annotations

from typing import Any

import numpy as np

from igcore.decode.sources import SOURCES, source_names

HELD = 0.1  # a slot holding at least this share of a user's weight counts as held


def decoder_weights(model: Any, chunk: int = 4096) -> dict[str, dict[str, float]] | None:
    """``{"sources": {name: mean gate weight}, "interests": {"top_share", "held"}}`` over the users with events
    in the model's online state (``interests`` only with slots); None for a model without a gate."""
    if not hasattr(model, "source_weights"):
        return None
    users = np.flatnonzero([len(h) > 0 for h in model.state.items])
    if len(users) == 0:
        return None
    parts = [users[i:i + chunk] for i in range(0, len(users), chunk)]
    gates = np.concatenate([model.source_weights(p) for p in parts])
    names = source_names(model.cfg.gnn_stage, model.cfg.use_temporal)
    out = {"sources": {n: round(float(w), 4) for n, w in zip(names, gates.mean(0))}}
    if getattr(model, "scored_graph", None) is not None:
        out["graph"] = {"weight": float(model.scored_graph.weight)}
    if model.cfg.interests:
        shares = np.concatenate([model.interest_state(p)[1] for p in parts])
        out["interests"] = {"top_share": round(float(shares.max(1).mean()), 4),
                            "held": round(float((shares >= HELD).sum(1).mean()), 2)}
    return out


def gate_text(sources: dict[str, float]) -> str:
    """``sequence 0.91, memory 0.09``: gate weights in the sources' order."""
    return ", ".join(f"{n} {sources[n]:.2f}" for n in SOURCES if n in sources)


def decoder_table(rows: dict[str, dict]) -> list[str]:
    """Lines of a markdown table of the rows that recorded decoder weights (none when no row did)."""
    rows = {name: row["decoder"] for name, row in rows.items() if row.get("decoder")}
    if not rows:
        return []

    def cell(value: float | None, digits: int = 2) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    lines = ["Decoder weights of the trained pipeline rows (`igcore.evaluate.decoder`; mean over the users the "
             "model holds after training, then over seeds): the gate's weight on each source; with interest "
             f"slots, the share of a user's largest slot and the number of slots holding at least {HELD:.0%}; "
             "with the graph at the score, the weight validation chose for its term.",
             "", "| model | sequence | graph | memory | largest slot's share | slots held | graph at the score |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, dec in rows.items():
        src, slots = dec["sources"], dec.get("interests", {})
        lines.append(f"| {name} | {cell(src.get('sequence'), 3)} | {cell(src.get('graph'), 3)} | "
                     f"{cell(src.get('memory'), 3)} | {cell(slots.get('top_share'))} | {cell(slots.get('held'), 1)} | "
                     f"{cell(dec.get('graph', {}).get('weight'))} |")
    return lines
