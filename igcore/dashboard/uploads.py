"""The Data page's work: preview an uploaded CSV with its detected column mapping, and import it with the mapping
the user corrected through the one after-import service (:mod:`igcore.after_import`: model state, serving
state, interest snapshots). Plain functions over bytes and a store path: no Streamlit in here.

Uploads arrive as bytes with the name the user gave them; the importers spool them to a temporary file
(size-checked while copying) and remove it after, so nothing here writes to the store folder. The preview reads
the file exactly as the importer will (same encoding, delimiter and header cleaning, via ``open_csv``), so the
columns the user maps are the columns the import sees.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import gzip
import io
from pathlib import Path

import pandas as pd

from igcore.after_import import AfterImport, import_and_refresh
from igcore.config import IngestConfig
from igcore.csvsafe import safe_csv_frame
from igcore.errors import FileTooLargeError, IgcoreError, IngestError
from igcore.ingest import ImportReport
from igcore.ingest.mapping import EVENT_FIELDS, IGNORE, ITEM_FIELDS, FieldSpec, resolve_mapping
from igcore.ingest.source import CsvFile, open_csv
from igcore.progress import Progress, no_progress
from igcore.store import Store

KINDS: dict[str, tuple[FieldSpec, ...]] = {"events": EVENT_FIELDS, "items": ITEM_FIELDS}
PREVIEW_ROWS = 20
UPLOAD_TYPES = (".csv", ".tsv", ".txt", ".gz")  # the file name endings an upload may have


@dataclasses.dataclass(frozen=True)
class Preview:
    """The first rows of an upload as read, and the mapping detected for its columns."""

    name: str
    kind: str  # events | items
    header: list[str]
    rows: pd.DataFrame  # the first rows as text, one column per header column
    mapping: dict[str, str]  # column -> field, or IGNORE; every header column, in file order
    notes: list[str]  # what the reader noticed (encoding guesses, renamed columns, unreadable lines)


@dataclasses.dataclass(frozen=True)
class ImportOutcome:
    """An import's report, the rows it quarantined (with their reasons) and what followed the import."""

    after: AfterImport
    quarantined: pd.DataFrame

    @property
    def report(self) -> ImportReport:
        return self.after.report

    @property
    def already_imported(self) -> bool:
        return self.report.status == "already_imported"

    def quarantine_csv(self) -> bytes:
        """The quarantined rows as a CSV download, every cell a spreadsheet would run as a formula neutralised
        (the rows are untrusted input by definition)."""
        return safe_csv_frame(self.quarantined).to_csv(index=False).encode("utf-8")

    def reasons(self) -> pd.DataFrame:
        """Quarantined rows by reason kind, most first."""
        return pd.DataFrame({"reason": list(self.report.reasons), "rows": list(self.report.reasons.values())})


def fields(kind: str) -> tuple[FieldSpec, ...]:
    if kind not in KINDS:
        raise IgcoreError(f"unknown import kind {kind!r}; use one of: {', '.join(KINDS)}")
    return KINDS[kind]


def field_choices(kind: str) -> list[str]:
    """What a column can be mapped to: leave it out, or one of the kind's fields."""
    return [IGNORE, *(f.name for f in fields(kind))]


def check_size(size: int, name: str, config: IngestConfig | None = None) -> None:
    """Refuse an upload over the ingest size limit before anything reads it (the importer would too, later)."""
    config = config or IngestConfig()
    if size > config.max_file_bytes:
        raise FileTooLargeError(
            f"{name} is {size / 1e6:,.1f} MB, over the limit of {config.max_file_bytes / 1e6:,.1f} MB "
            "(setting max_file_bytes); import it with `igcore ingest` after raising the limit, or split it"
        )


def check_upload(size: int, name: str, config: IngestConfig | None = None) -> None:
    """Refuse an upload that is not a CSV by its name, or over the size limit, before anything reads it. The
    check is ours rather than the uploader's ``type=`` (whose refusal of a crafted request is a stack trace)."""
    if not name.lower().endswith(UPLOAD_TYPES):
        raise IngestError(f"{name} is not a CSV file: upload a {', '.join(UPLOAD_TYPES[:-1])} or "
                          f"{UPLOAD_TYPES[-1]} (compressed) file")
    check_size(size, name, config)


def detect_mapping(header: list[str], kind: str) -> dict[str, str]:
    """``{column: field or IGNORE}`` for every column, as the importer would choose automatically. Unlike
    ``resolve_mapping`` it never refuses: a required field without a column is simply absent."""
    optional = tuple(dataclasses.replace(f, required=False) for f in fields(kind))
    chosen = {column: field for field, column in resolve_mapping(header, optional).items()}
    return {column: chosen.get(column, IGNORE) for column in header}


def mapping_problems(mapping: dict[str, str], kind: str) -> list[str]:
    """Why ``mapping`` (column -> field) cannot be imported: required fields without a column, fields chosen
    for more than one column. Empty when it can."""
    columns: dict[str, list[str]] = collections.defaultdict(list)
    for column, field in mapping.items():
        if field != IGNORE:
            columns[field].append(column)
    problems = [
        f"No column is mapped to the required field {f.name} ({f.help}): choose its column below, or add one "
        "to the file."
        for f in fields(kind) if f.required and f.name not in columns
    ]
    problems += [
        f"The field {field} is chosen for {len(cols)} columns ({', '.join(cols)}): keep one."
        for field, cols in columns.items() if len(cols) > 1
    ]
    return problems


def preview_upload(data: bytes, name: str, kind: str, config: IngestConfig | None = None,
                   n_rows: int = PREVIEW_ROWS) -> Preview:
    """Read the header and first ``n_rows`` rows of an upload and detect its column mapping. Raises
    :class:`IngestError` (an ``IgcoreError``) for what cannot be read as CSV at all."""
    config = config or IngestConfig()
    check_upload(len(data), name, config)
    with open_csv(io.BytesIO(data), config, name) as csv_file:
        rows, notes = _head_rows(csv_file, n_rows)
        header = list(csv_file.header)
        notes = [*csv_file.notes, *notes]
    frame = pd.DataFrame([(row + [""] * len(header))[: len(header)] for row in rows], columns=header, dtype=object)
    return Preview(name, kind, header, frame, detect_mapping(header, kind), notes)


def _head_rows(csv_file: CsvFile, n_rows: int) -> tuple[list[list[str]], list[str]]:
    """The first records after the header, parsed as Python's csv module reads them."""
    opener = gzip.open if csv_file.compression == "gzip" else open
    rows: list[list[str]] = []
    notes: list[str] = []
    with opener(csv_file.path, "rt", encoding=csv_file.encoding, errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=csv_file.delimiter)
        try:
            next(reader, None)
            for row in reader:
                if len(rows) >= n_rows:
                    break
                rows.append(row)
        except (csv.Error, OSError, EOFError) as exc:
            notes.append(f"the preview stops at row {len(rows) + 1}, which cannot be read ({exc}); "
                         "the import quarantines unreadable lines")
    if len(rows) > 0 and any(len(r) != len(csv_file.header) for r in rows):
        notes.append("some rows have a different number of fields than the header; the import quarantines them")
    return rows, notes


def import_upload(db_path: Path, data: bytes, name: str, kind: str, mapping: dict[str, str] | None = None,
                  config: IngestConfig | None = None, progress: Progress = no_progress) -> ImportOutcome:
    """Import an uploaded CSV (bytes) into the store with ``mapping`` (column -> field or IGNORE; None: the
    automatic one) in one transaction, then bring the model's state and the interest snapshots up to date;
    returns the reports and the rows this import quarantined. The same bytes imported twice come back with
    status ``already_imported`` and change nothing."""
    config = config or IngestConfig()
    check_upload(len(data), name, config)
    fields(kind)
    with Store(db_path) as store:
        after = import_and_refresh(store, io.BytesIO(data), kind, mapping, config, name, progress=progress)
        report = after.report
        if report.status == "already_imported" or not report.rows_quarantined:
            quarantined = store.quarantined(limit=0)
        else:
            quarantined = store.quarantined(report.import_id)
    return ImportOutcome(after, quarantined)
