"""A CSV file made ready for DuckDB: on disk, hashed, size-checked, encoding and delimiter known, header read.

Uploads (file objects) are spooled to a temporary file while being hashed, and refused as soon as they pass
the size limit, so an oversized upload never fills the disk. The same pass counts the file's records
(:mod:`igcore.ingest.records`), independently of DuckDB's reader, so the import can prove it lost none.
The name a user gives an upload is only ever shown: the temporary file's name is made by ``tempfile``.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import gzip
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from igcore.config import IngestConfig
from igcore.errors import FileTooLargeError, IngestError
from igcore.ingest.records import CountingSink, RecordCount, copy_without, text_chunks
from igcore.progress import Progress, no_progress

CHUNK = 1 << 20
HEAD_BYTES = 256 * 1024
DELIMITERS = (",", ";", "\t", "|")
GZIP_MAGIC = b"\x1f\x8b"
ENCODINGS = ("utf-8", "utf-16", "latin-1")  # what DuckDB's CSV reader decodes without extensions
EXCERPT_BYTES = 200  # how much of an over-long record the quarantine keeps


@dataclasses.dataclass(frozen=True)
class CsvFile:
    path: Path  # readable by DuckDB
    name: str  # what the user called it
    size: int
    sha256: str
    compression: str  # none | gzip (DuckDB decompresses while reading)
    encoding: str
    delimiter: str
    header: list[str]  # cleaned column names, unique, never empty
    notes: list[str]  # things the user should know (encoding guesses, renamed columns)
    count: RecordCount  # the records as counted from the bytes, not by DuckDB's reader


@contextlib.contextmanager
def open_csv(
    source: str | Path | BinaryIO,
    config: IngestConfig,
    name: str | None = None,
    progress: Progress = no_progress,
) -> Iterator[CsvFile]:
    """Yield a :class:`CsvFile` for a path or a binary file object; temporary copies are removed after."""
    temp: Path | None = None
    try:
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise IngestError(f"no such file: {path}")
            size = path.stat().st_size
            _check_size(size, config, path.name)
            sink = CountingSink(config.max_line_bytes, _delimiter_for(config))
            digest = _hash_file(path, size, progress, sink)
            shown = name or path.name
        else:
            shown = name or getattr(source, "name", None) or "upload.csv"
            sink = CountingSink(config.max_line_bytes, _delimiter_for(config))
            temp, size, digest = _spool(source, config, shown, progress, sink)
            path = temp
        if size == 0:
            raise IngestError(f"{shown} is empty: no header and no rows")
        compression, head = _read_head(path)
        notes: list[str] = []
        encoding = _detect_encoding(head, config.encoding, notes)
        header_line = _first_line(head, encoding)
        delimiter = _detect_delimiter(header_line, config.delimiter)
        header = _clean_header(header_line, delimiter, notes)
        count = sink.result()
        if sink.delimiter != delimiter:  # the head of the text and the decoded head disagree: count again
            count = _recount(path, config, delimiter)
        yield CsvFile(path, shown, size, digest, compression, encoding, delimiter, header, notes, count)
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)


@dataclasses.dataclass(frozen=True)
class SkippedRecord:
    """A record left out of what DuckDB reads, because it is longer than ``max_line_bytes``."""

    line_no: int
    nbytes: int
    excerpt: str  # its first bytes, decoded, with an ellipsis


@dataclasses.dataclass(frozen=True)
class Readable:
    """What DuckDB's reader should read: the file itself, or a copy without the over-long records."""

    path: Path
    encoding: str
    compression: str
    skipped: tuple[SkippedRecord, ...]


@contextlib.contextmanager
def readable(csv_file: CsvFile) -> Iterator[Readable]:
    """The file for DuckDB's reader. Over-long records never reach it: DuckDB drops a record longer than its
    read buffer without a trace (and can lose the records after one), so they are cut out here, into a
    temporary uncompressed copy, and quarantined by the importer. A file without one is read as it is."""
    longs = csv_file.count.long_records
    if not longs:
        yield Readable(csv_file.path, csv_file.encoding, csv_file.compression, ())
        return
    fd, tmp = tempfile.mkstemp(prefix="igcore-read-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as out, csv_file.path.open("rb") as fh:
            heads = copy_without(text_chunks(iter(lambda: fh.read(CHUNK), b"")), longs, out, EXCERPT_BYTES)
        encoding = "utf-8" if csv_file.count.transcoded else csv_file.encoding
        decode = "utf-8" if encoding == "utf-16" else encoding
        skipped = tuple(
            SkippedRecord(r.line_no, r.nbytes, head.decode(decode, errors="replace").rstrip("\r\n") + "…")
            for r, head in zip(sorted(longs, key=lambda r: r.start), heads, strict=True))
        yield Readable(Path(tmp), encoding, "none", skipped)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _check_size(size: int, config: IngestConfig, name: str) -> None:
    if size > config.max_file_bytes:
        raise FileTooLargeError(
            f"{name} is {size / 1e6:,.1f} MB, over the limit of {config.max_file_bytes / 1e6:,.1f} MB "
            "(setting max_file_bytes)"
        )


def _delimiter_for(config: IngestConfig) -> Callable[[bytes], str]:
    """The delimiter the counter should use, from the first bytes of text (ASCII-compatible)."""
    return lambda head: _detect_delimiter(_first_line(head, "latin-1"), config.delimiter)


def _recount(path: Path, config: IngestConfig, delimiter: str) -> RecordCount:
    sink = CountingSink(config.max_line_bytes, lambda _head: delimiter)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sink.update(chunk)
    return sink.result()


def _hash_file(path: Path, size: int, progress: Progress, sink: CountingSink) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            sink.update(chunk)
            done += len(chunk)
            progress("hash", done, size, {})
    return digest.hexdigest()


def _spool(
    source: BinaryIO, config: IngestConfig, name: str, progress: Progress, sink: CountingSink,
) -> tuple[Path, int, str]:
    """Copy an upload to a temporary file named by ``tempfile`` alone (``name`` is for messages only)."""
    fd, tmp = tempfile.mkstemp(prefix="igcore-upload-", suffix=".csv")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                size += len(chunk)
                _check_size(size, config, name)
                digest.update(chunk)
                sink.update(chunk)
                out.write(chunk)
                progress("upload", size, 0, {})
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), size, digest.hexdigest()


def _read_head(path: Path) -> tuple[str, bytes]:
    """The compression and the first bytes of the (decompressed) text."""
    with path.open("rb") as fh:
        gzipped = fh.read(2) == GZIP_MAGIC
    if not gzipped:
        with path.open("rb") as fh:
            return "none", fh.read(HEAD_BYTES)
    try:
        with gzip.open(path, "rb") as gz:
            return "gzip", gz.read(HEAD_BYTES)
    except (OSError, EOFError) as exc:
        raise IngestError(f"{path.name} looks gzip-compressed but cannot be decompressed: {exc}") from exc


def _detect_encoding(head: bytes, wanted: str, notes: list[str]) -> str:
    """UTF-16 by its BOM; UTF-8 when the head decodes (bad lines later are quarantined); else Latin-1."""
    if wanted != "auto":
        if wanted not in ENCODINGS:
            raise IngestError(f"encoding {wanted!r} is not supported; use one of: auto, {', '.join(ENCODINGS)}")
        return wanted
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    cut = head[: head.rfind(b"\n") + 1] or head
    try:
        cut.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # Some valid multi-byte UTF-8 beside the bad bytes: a UTF-8 file with damaged lines.
    if any(ord(ch) > 127 for ch in cut.decode("utf-8", errors="ignore")):
        notes.append("some lines are not valid UTF-8; they are quarantined")
        return "utf-8"
    notes.append("the file is not UTF-8; it was read as Latin-1")
    return "latin-1"


def _first_line(head: bytes, encoding: str) -> str:
    text = head.decode("utf-16" if encoding == "utf-16" else encoding, errors="replace")
    text = text.lstrip("\ufeff")
    return text.splitlines()[0] if text.strip() else ""


def _detect_delimiter(header_line: str, wanted: str) -> str:
    if wanted != "auto":
        wanted = {"\\t": "\t", "tab": "\t"}.get(wanted, wanted)
        if wanted not in DELIMITERS:
            raise IngestError(f"delimiter {wanted!r} is not supported; use one of: auto , ; \\t |")
        return wanted
    counts = {d: len(next(csv.reader([header_line], delimiter=d), [])) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # first listed wins ties, so ',' for one column
    return best


def _clean_header(header_line: str, delimiter: str, notes: list[str]) -> list[str]:
    if not header_line.strip():
        raise IngestError("the first line is blank; expected a header naming the columns")
    raw = next(csv.reader(io.StringIO(header_line), delimiter=delimiter))
    names: list[str] = []
    for i, col in enumerate(raw):
        name = col.strip() or f"column_{i + 1}"
        base, n = name, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        if name != col:
            notes.append(f"column {i + 1} {col!r} is called {name!r}")
        names.append(name)
    return names
