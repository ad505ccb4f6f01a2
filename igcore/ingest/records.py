"""Counting a CSV file's records independently of DuckDB's reader, while the file is hashed or spooled.

DuckDB's reader can drop a record silently (one longer than its read buffer vanishes, and with it sometimes
the records after it), so the importer cannot take the reader's own row count as the truth. This module
walks the bytes once, in the chunks the hash already reads, and finds the record boundaries the way the
CSV dialect defines them:

- a record ends at ``\\n``, ``\\r\\n`` or a lone ``\\r`` outside quotes; a quoted field may hold newlines;
- a quote opens a quoted field only at the start of a field (a quote inside an unquoted value is a literal
  character, as DuckDB reads it); ``""`` inside a quoted field is an escaped quote;
- an empty line is no record, but it still counts as a line (DuckDB numbers lines that way).

Line numbers follow DuckDB's: the header is line 1, a quoted field spanning lines counts once, blank lines
count. Chunks without quotes, carriage returns or blank lines take a path of ``bytes.count`` only; other
chunks are handled with numpy, and a chunk with a literal quote falls back to a loop over its quotes.
"""

from __future__ import annotations

import codecs
import dataclasses
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import numpy as np

from igcore.errors import IngestError

LF, CR, QUOTE = 10, 13, 34
HEAD_BYTES = 256 * 1024  # at most this much text is held back to find the first line


@dataclasses.dataclass(frozen=True)
class LongRecord:
    """A record longer than ``max_line_bytes``: its line number and its byte span in the text stream."""

    line_no: int
    start: int  # offset of its first byte
    end: int  # offset after its line end (or the end of the stream)

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclasses.dataclass(frozen=True)
class RecordCount:
    """What the byte walk found. ``records`` excludes the header and blank lines."""

    records: int
    lines: int  # lines including the header and blank lines
    blank_lines: tuple[int, ...]
    long_records: tuple[LongRecord, ...]
    transcoded: bool  # the walk saw UTF-16 text re-encoded as UTF-8 (offsets refer to that)


class RecordCounter:
    """Feed it the text bytes (decompressed, ASCII-compatible) chunk by chunk; ``finish`` returns the count."""

    def __init__(self, max_line_bytes: int, delimiters: bytes) -> None:
        self.limit = int(max_line_bytes)
        self.field_start = np.zeros(256, dtype=bool)  # bytes after which a quote opens a quoted field
        for b in bytes(delimiters) + b'\n\r"':
            self.field_start[b] = True
        self.offset = 0  # stream offset of the next chunk
        self.in_quote = False
        self.prev = LF  # the byte before the next chunk; a line end at the start of the stream
        self.pending_cr = False  # the last chunk ended in a \r outside quotes: a line end unless \n follows
        self.line = 0  # lines completed
        self.records = 0
        self.rec_start = 0
        self.blank: list[int] = []
        self.long: list[LongRecord] = []

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if (not self.in_quote and not self.pending_cr and len(chunk) <= self.limit and b'"' not in chunk
                and b"\r" not in chunk and b"\n\n" not in chunk and not (chunk[0] == LF and self.prev == LF)):
            self._plain(chunk)
        else:
            self._general(chunk)
        self.prev = chunk[-1]
        self.offset += len(chunk)

    def finish(self) -> RecordCount:
        if self.pending_cr:
            self._end_lines(np.array([self.offset - 1]), crlf=np.zeros(1, dtype=bool))
            self.pending_cr = False
        if self.rec_start < self.offset:  # a last line without a line end
            self._end_lines(np.array([self.offset]), crlf=np.zeros(1, dtype=bool), at_eof=True)
        return RecordCount(max(self.records - 1, 0), self.line, tuple(self.blank), tuple(self.long), False)

    def _plain(self, chunk: bytes) -> None:
        """No quotes, no CR, no blank line, no line longer than the limit can end inside: counting suffices."""
        n = chunk.count(b"\n")
        if not n:
            return
        first = self.offset + chunk.find(b"\n")
        self._check_long(self.line + 1, self.rec_start, first)
        self.line += n
        self.records += n  # the first line is not blank: that would need "\n\n" or a leading "\n" after "\n"
        self.rec_start = self.offset + chunk.rfind(b"\n") + 1

    def _general(self, chunk: bytes) -> None:
        a = np.frombuffer(chunk, dtype=np.uint8)
        crlf_first = False
        if self.pending_cr:
            self.pending_cr = False
            if a[0] == LF:
                crlf_first = True  # the \n at 0 ends the line; the \r before it is part of the line end
            else:
                self._end_lines(np.array([self.offset - 1]), crlf=np.zeros(1, dtype=bool))
        qpos = np.flatnonzero(a == QUOTE)
        structural = self._structural_quotes(a, qpos)
        nl = np.flatnonzero(a == LF)
        cr = np.flatnonzero(a == CR)
        cr_next = np.append(a[1:], LF)[cr] if len(cr) else cr  # the byte after each \r (unknown at the end)
        last_cr_open = len(cr) and cr[-1] == len(a) - 1
        lone_cr = cr[cr_next != LF] if len(cr) else cr
        if last_cr_open:
            lone_cr = lone_cr[lone_cr != len(a) - 1]
        ends = np.sort(np.concatenate([nl, lone_cr]))
        inside = (np.searchsorted(structural, ends) + self.in_quote) % 2 == 1
        ends = ends[~inside]
        if len(ends):
            is_lf = a[ends] == LF
            before = np.where(ends > 0, a[np.maximum(ends - 1, 0)], CR if crlf_first else 0)
            crlf = is_lf & (before == CR)
            self._end_lines(self.offset + ends, crlf)
        self.in_quote = bool((len(structural) + self.in_quote) % 2)
        if last_cr_open and not self.in_quote:
            self.pending_cr = True

    def _structural_quotes(self, a: np.ndarray, qpos: np.ndarray) -> np.ndarray:
        """Positions of the quotes that open, close or escape (not literal quotes inside unquoted values)."""
        if not len(qpos):
            return qpos
        prev = np.where(qpos > 0, a[np.maximum(qpos - 1, 0)], self.prev)
        at_field_start = self.field_start[prev]
        outside = (np.arange(len(qpos)) + self.in_quote) % 2 == 0  # if every quote were structural
        if not (outside & ~at_field_start).any():
            return qpos
        keep = np.zeros(len(qpos), dtype=bool)  # a literal quote exists: decide quote by quote, in order
        in_quote = self.in_quote
        for i, fs in enumerate(at_field_start.tolist()):
            if in_quote or fs:
                keep[i] = True
                in_quote = not in_quote
        return qpos[keep]

    def _end_lines(self, ends: np.ndarray, crlf: np.ndarray, at_eof: bool = False) -> None:
        """Lines end at stream offsets ``ends`` (the line-end byte); ``crlf`` marks a \\r before a \\n end."""
        starts = np.empty(len(ends), dtype=np.int64)
        starts[0] = self.rec_start
        starts[1:] = ends[:-1] + 1
        lengths = ends - starts - crlf
        numbers = self.line + 1 + np.arange(len(ends))
        blank = lengths <= 0
        if blank.any():
            self.blank.extend(int(x) for x in numbers[blank])
        self.records += int((~blank).sum())
        for i in np.flatnonzero(lengths > self.limit).tolist():
            end = int(ends[i]) if at_eof else int(ends[i]) + 1
            self.long.append(LongRecord(int(numbers[i]), int(starts[i]), end))
        self.line += len(ends)
        self.rec_start = int(ends[-1]) + 1

    def _check_long(self, line_no: int, start: int, end: int) -> None:
        if end - start > self.limit:
            self.long.append(LongRecord(line_no, start, end + 1))


class TextStream:
    """Turns a file's raw bytes into the text bytes the counter reads: gunzipped when the bytes start with the
    gzip magic, UTF-16 (by its BOM) re-encoded as UTF-8; other encodings pass through, since their line ends
    and quotes are the ASCII bytes."""

    def __init__(self) -> None:
        self._head = b""
        self._started = False
        self._gunzip: zlib._Decompress | None = None
        self._utf16: codecs.IncrementalDecoder | None = None
        self._text_head = b""
        self._text_started = False
        self.transcoded = False

    def convert(self, raw: bytes, final: bool = False) -> bytes:
        if not self._started:
            self._head += raw
            if len(self._head) < 2 and not final:
                return b""
            self._started = True
            raw, self._head = self._head, b""
            if raw[:2] == b"\x1f\x8b":
                self._gunzip = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            data = self._gunzip_bytes(raw, final) if self._gunzip is not None else raw
        except zlib.error as exc:
            raise IngestError(f"the file looks gzip-compressed but cannot be decompressed: {exc}") from None
        return self._text(data, final)

    def _gunzip_bytes(self, raw: bytes, final: bool) -> bytes:
        out = [self._gunzip.decompress(raw)]
        while self._gunzip.eof and self._gunzip.unused_data:  # concatenated gzip members
            rest = self._gunzip.unused_data
            self._gunzip = zlib.decompressobj(zlib.MAX_WBITS | 16)
            out.append(self._gunzip.decompress(rest))
        if final:
            out.append(self._gunzip.flush())
        return b"".join(out)

    def _text(self, data: bytes, final: bool) -> bytes:
        if not self._text_started:
            self._text_head += data
            if len(self._text_head) < 2 and not final:
                return b""
            self._text_started = True
            data, self._text_head = self._text_head, b""
            if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                self._utf16 = codecs.getincrementaldecoder("utf-16")(errors="replace")
                self.transcoded = True
        if self._utf16 is not None:
            return self._utf16.decode(data, final).encode("utf-8")
        return data


class CountingSink:
    """A TextStream feeding a RecordCounter: what the hash loop calls for every raw chunk.

    The delimiter decides where a field starts (and so whether a quote opens a quoted field); it is chosen by
    ``delimiter_for`` from the first line of text, so an upload is counted while it is spooled.
    """

    def __init__(self, max_line_bytes: int, delimiter_for: Callable[[bytes], str]) -> None:
        self.stream = TextStream()
        self.max_line_bytes = max_line_bytes
        self.delimiter_for = delimiter_for
        self.delimiter: str | None = None
        self.counter: RecordCounter | None = None
        self._head = b""

    def update(self, raw: bytes) -> None:
        self._feed(self.stream.convert(raw), final=False)

    def result(self) -> RecordCount:
        self._feed(self.stream.convert(b"", final=True), final=True)
        return dataclasses.replace(self.counter.finish(), transcoded=self.stream.transcoded)

    def _feed(self, text: bytes, final: bool) -> None:
        if self.counter is None:
            self._head += text
            if not final and len(self._head) < HEAD_BYTES and b"\n" not in self._head and b"\r" not in self._head:
                return
            self.delimiter = self.delimiter_for(self._head)
            self.counter = RecordCounter(self.max_line_bytes, self.delimiter.encode("ascii"))
            text, self._head = self._head, b""
        self.counter.feed(text)


def text_chunks(raw_chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The text bytes of a file, as the counter saw them (same offsets), from its raw chunks."""
    stream = TextStream()
    for raw in raw_chunks:
        if out := stream.convert(raw):
            yield out
    if out := stream.convert(b"", final=True):
        yield out


def copy_without(chunks: Iterable[bytes], skip: Iterable[LongRecord], out: BinaryIO, keep: int) -> list[bytes]:
    """Write the text ``chunks`` to ``out`` leaving out the spans of ``skip`` (in stream order); return the
    first ``keep`` bytes of each skipped span, for the quarantine."""
    spans = sorted(skip, key=lambda r: r.start)
    heads = [b""] * len(spans)
    i, offset = 0, 0
    for chunk in chunks:
        end = offset + len(chunk)
        pos = offset  # next stream offset of this chunk still to handle
        while pos < end:
            if i < len(spans) and spans[i].start < end and spans[i].end > pos:
                span = spans[i]
                if span.start > pos:
                    out.write(chunk[pos - offset:span.start - offset])
                    pos = span.start
                cut = min(span.end, end)
                if len(heads[i]) < keep:
                    heads[i] += chunk[pos - offset:min(cut, pos + keep - len(heads[i])) - offset]
                pos = cut
                if cut == span.end:
                    i += 1
            else:
                out.write(chunk[pos - offset:])
                pos = end
        offset = end
    return heads
