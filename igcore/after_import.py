"""The one path after every import: import -> the model's online state -> serving state -> interest snapshots.

The CLI (``igcore ingest``, ``igcore update``), the Data page and the Live page all import through
:func:`import_and_refresh`, so a file leaves the same store, serving state and snapshots whichever way it came
in. After the rows are accounted for (:mod:`igcore.ingest`):

1. when a trained checkpoint exists and events were added, the model's online state takes them in without
   gradient steps (:func:`igcore.pipeline.run.refresh`: from its saved state when the new events come after
   the ones it holds, else replayed from every stored event), and its online and serving states are saved;
2. the interest snapshots of the users the import touched are updated, scored by that model; a store with
   events but no snapshots yet gets them built (as the dashboard's first start does).

What each step did comes back as one :class:`AfterImport` report. A step that cannot run (a catalogue without
categories, brands or text for the snapshots) is reported, never raised: the import itself has committed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from igcore.config import IngestConfig
from igcore.errors import IgcoreError
from igcore.events import has_events, last_event_id, users_items_since
from igcore.ingest import ImportReport, import_events, import_items
from igcore.interests.config import InterestConfig
from igcore.interests.scoring import ModelScorer
from igcore.interests.snapshots import build_snapshots, stored_config, update_snapshots
from igcore.pipeline.checkpoint import has_checkpoint
from igcore.pipeline.run import default_checkpoint, load, refresh
from igcore.progress import Progress, no_progress
from igcore.store import Store

if TYPE_CHECKING:
    from igcore.pipeline.grow import Joined

KINDS = ("events", "items")


@dataclasses.dataclass(frozen=True)
class AfterImport:
    """An import's report and what followed it, one line a step."""

    report: ImportReport
    touched_users: list[str]  # users with new events, by id
    model: str
    snapshots: str
    snapshots_ok: bool  # False when the snapshots could not be built or updated (``snapshots`` says why)
    scorer: ModelScorer | None  # the model as refreshed, for a caller that keeps one in memory
    last_event_id: int  # the latest stored event the refreshed model has taken in

    def lines(self) -> list[str]:
        return [self.report.summary(), f"model: {self.model}", f"interest snapshots: {self.snapshots}"]


def import_and_refresh(store: Store, source: str | Path | BinaryIO, kind: str = "events",
                       mapping: dict[str, str] | None = None, config: IngestConfig | None = None,
                       name: str | None = None, model_dir: Path | None = None,
                       progress: Progress = no_progress) -> AfterImport:
    """Import ``source`` (a path or a binary file object) as ``kind`` into the writable ``store``, then bring
    the model's online state, its serving state and the interest snapshots up to date."""
    if kind not in KINDS:
        raise IgcoreError(f"unknown import kind {kind!r}; use one of: {', '.join(KINDS)}")
    before = last_event_id(store)
    importer = import_events if kind == "events" else import_items
    report = importer(store, source, mapping or None, config or IngestConfig(), name, progress)
    return refresh_after_import(store, report, before, model_dir, progress)


def refresh_after_import(store: Store, report: ImportReport, since_event_id: int, model_dir: Path | None = None,
                         progress: Progress = no_progress) -> AfterImport:
    """Steps 1 and 2 for the events stored after ``since_event_id``."""
    new = users_items_since(store, since_event_id)
    model_dir = Path(model_dir or default_checkpoint(store))
    scorer, served, model_line = _refresh_model(store, model_dir, bool(new), progress)
    snapshots, ok = _refresh_snapshots(store, served or scorer, model_dir, progress)
    return AfterImport(report, sorted({u for u, _ in new}), model_line, snapshots, ok, scorer,
                       last_event_id(store))


def _refresh_model(store: Store, model_dir: Path, any_new: bool,
                   progress: Progress) -> tuple[ModelScorer | None, ModelScorer | None, str]:
    """The refreshed model, the serving state it saved (what the touched users' snapshots are scored with: the
    scores ``igcore recommend`` ranks by, without encoding those users again), and the report's line."""
    if not has_checkpoint(model_dir):
        return None, None, "no trained model: recommendations come from the evidence scorer"
    if not any_new:
        return None, None, "no new events: the model's state is unchanged"
    progress("model", 0, 1, {})
    try:
        online, meta = refresh(store, model_dir)
    except IgcoreError as exc:  # e.g. a checkpoint of an older network: the import stands, the model says why
        return None, None, f"not refreshed: {exc}"
    progress("model", 1, 1, {})
    if online.fed is not None:
        line = (f"online state moved by the {len(online.fed.events):,} new events (resumed from its saved state; "
                "no gradient steps), serving state saved")
    else:
        known = online.model.state.histories.n_events
        line = (f"online state rebuilt from the {known:,} stored events ({known - meta['events']:+,} since "
                "training; no gradient steps), serving state saved")
    served = ModelScorer.from_meta(online.served, meta) if online.served is not None else None
    return ModelScorer.from_meta(online.model, meta), served, line + joined_line(online.new)


def joined_line(new: Joined) -> str:
    """What an import's new users and items got from the model (:mod:`igcore.pipeline.grow`)."""
    if not new.users and not new.items:
        return ""
    served = new.served_items()
    line = f"; new to the model: {len(new.users):,} users, served from their events"
    if new.items:
        line += (f", and {len(new.items):,} items, {served:,} served from their text, attributes or "
                 "co-occurrences")
        if served < len(new.items):
            line += f" ({len(new.items) - served:,} with none of these are served once they co-occur)"
    return line


def _refresh_snapshots(store: Store, scorer: ModelScorer | None, model_dir: Path,
                       progress: Progress) -> tuple[str, bool]:
    if not has_events(store):
        return "none: the store holds no events yet", True
    try:
        if stored_config(store) is None:
            if scorer is None and has_checkpoint(model_dir):
                model, meta = load(store, model_dir)  # an unusable checkpoint: reported below, never ignored
                scorer = ModelScorer.from_meta(model, meta)
            return f"built: {build_snapshots(store, InterestConfig(), scorer, progress).summary()}", True
        progress("interests", 0, 1, {})  # an update reports only when done; say what runs meanwhile
        report = update_snapshots(store, scorer, progress)
    except IgcoreError as exc:
        return f"not updated: {exc}", False
    if not report.new_events:
        return "up to date: no events since the last build or update", True
    return f"updated: {report.summary()}", True
