"""A generated fuzz corpus for the importer: files written at test time (none is committed), each with the number
of data records it holds, known by construction, so a test can hold the import's accounting against it.

Record lengths sit around every buffer the reading path uses: DuckDB's CSV read buffer (``DUCKDB_BUFFER``,
``CSVBuffer::CSV_BUFFER_SIZE``) and its smaller buffer for compressed input (``DUCKDB_MIN_BUFFER``,
``CSV_MINIMUM_BUFFER_SIZE``), the importer's ``max_line_bytes`` and the chunk the hash and the record
counter read (``CHUNK``). Other files carry embedded NULs, CR-only line ends, an unbalanced quote at the end,
a BOM in the middle, UTF-8 and Latin-1 lines in one file, literal quotes inside unquoted values, blank lines,
and seeded random mixtures of all of them.
"""

from __future__ import annotations

import codecs
import dataclasses
import gzip
import random
from pathlib import Path

from igcore.config import IngestConfig
from igcore.ingest.source import CHUNK

DUCKDB_BUFFER = 32_000_000
DUCKDB_MIN_BUFFER = 8_000_000
MAX_LINE = IngestConfig().max_line_bytes
HEADER = b"user_id,item_id,event_type,timestamp"


@dataclasses.dataclass
class FuzzFile:
    name: str
    path: Path
    records: int  # data records, as the CSV dialect defines them (blank lines are none)
    long_lines: list[int]  # line numbers (header = 1) of records over max_line_bytes
    expect: tuple[int, int, int] | None = None  # (loaded, quarantined, duplicate) where known exactly


class Writer:
    """Builds one file record by record, counting records and lines as it goes."""

    def __init__(self, eol: bytes = b"\n") -> None:
        self.eol = eol
        self.parts: list[bytes] = [HEADER + eol]
        self.records = 0
        self.line = 1
        self.long_lines: list[int] = []
        self.serial = 0

    def good(self, n: int = 1) -> None:
        for _ in range(n):
            self.serial += 1
            self.record(b"u%d,i%d,view,%d" % (self.serial, self.serial, 1_600_000_000 + self.serial))

    def record(self, text: bytes, eol: bool = True) -> None:
        self.line += 1
        self.records += 1
        if len(text) > MAX_LINE:
            self.long_lines.append(self.line)
        self.parts.append(text + (self.eol if eol else b""))

    def of_length(self, nbytes: int) -> None:
        """A record of exactly ``nbytes`` bytes before its line end (a long item id)."""
        self.serial += 1
        head = b"u%d,i" % self.serial
        tail = b",view,%d" % (1_600_000_000 + self.serial)
        self.record(head + b"x" * (nbytes - len(head) - len(tail)) + tail)

    def blank(self) -> None:
        self.line += 1
        self.parts.append(self.eol)

    def data(self) -> bytes:
        return b"".join(self.parts)


def around(size: int) -> list[int]:
    return [size - 1, size, size + 1]


def _long_file(lengths: list[int]) -> Writer:
    w = Writer()
    w.good(3)
    for n in lengths:
        w.of_length(n)
        w.good(2)
    return w


def write_corpus(folder: Path) -> list[FuzzFile]:
    """Write the corpus (a few megabytes) into ``folder``."""
    out: list[FuzzFile] = []

    def save(name: str, w: Writer, expect: tuple[int, int, int] | None = None, gz: bool = False,
             data: bytes | None = None) -> None:
        raw = w.data() if data is None else data
        path = folder / name
        path.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
        out.append(FuzzFile(name, path, w.records, list(w.long_lines), expect))

    def long_expect(w: Writer, lengths: list[int]) -> tuple[int, int, int]:
        n_long = sum(n > MAX_LINE for n in lengths)
        # Records up to max_line_bytes reach the reader; their item ids are far over max_id_chars.
        return (w.records - len(lengths), len(lengths), 0) if all(n > 300 for n in lengths) else (
            w.records - n_long, n_long, 0)

    lengths = around(MAX_LINE) + around(CHUNK) + [CHUNK * 2 + 7]
    w = _long_file(lengths)
    save("around_max_line.csv", w, long_expect(w, lengths))
    w = _long_file(around(MAX_LINE))
    save("around_max_line.csv.gz", w, long_expect(w, around(MAX_LINE)), gz=True)

    # A record that ends exactly at, one before and one after a chunk the counter reads; CRLF split across.
    for shift in (-2, -1, 0, 1):
        w = Writer(b"\r\n")
        w.good(1)
        w.of_length(CHUNK - len(w.data()) - 2 + shift)
        w.good(3)
        save(f"chunk_edge_crlf_{shift + 2}.csv", w, (w.records - 1, 1, 0))  # the long item id is refused

    w = Writer()
    w.good(2)
    w.record(b"u\x00n,i\x001,view,1600000000")
    w.record(b"un2,i2\x00,view,1600000001")
    w.good(2)
    save("embedded_nul.csv", w, (6, 0, 0))

    w = Writer(b"\r")
    w.good(3)
    w.blank()
    w.record(b"u9,i9")  # too few fields
    w.good(2)
    save("cr_only.csv", w, (5, 1, 0))

    w = Writer()
    w.good(3)
    w.record(b'u8,"i8,view,1600000008', eol=True)  # the quote never closes: the rest of the file is one record
    save("unbalanced_quote_eof.csv", w, (3, 1, 0))
    w = Writer()
    w.good(2)
    w.record(b'"', eol=False)
    save("lone_quote_eof.csv", w, (2, 1, 0))

    w = Writer()
    w.good(2)
    w.record(codecs.BOM_UTF8 + b"ub,ib,view,1600000100")
    w.good(2)
    save("bom_mid_file.csv", w, (5, 0, 0))

    w = Writer()
    w.good(1)
    w.record("josé,crème,view,1600000200".encode())
    w.record("zoë,brûlée,view,1600000201".encode("latin-1"))
    w.record("anaïs,été,view,1600000202".encode())
    w.record("søren,blåbær,view,1600000203".encode("latin-1"))
    w.good(1)
    save("mixed_utf8_latin1.csv", w, (4, 2, 0))

    w = Writer()
    w.good(1)
    w.record(b'u5,screen 5",view,1600000300')  # a literal quote inside an unquoted value
    w.record(b'u6,vi"ew,view,1600000301')
    w.record(b'u7,"multi\nline ""quoted""",view,1600000302')
    w.blank()
    w.blank()
    w.good(2)
    w.record(b"u1,i1,view,1600000001")  # a repeat of the first good record
    save("quotes_blanks_duplicate.csv", w, (6, 0, 1))

    w = Writer()
    w.good(2)
    w.of_length(MAX_LINE + 5)
    w.good(2)
    save("utf16_long.csv", w, (4, 1, 0), data=codecs.BOM_UTF16_LE + w.data().decode().encode("utf-16-le"))

    for seed in range(4):
        save(f"random_{seed}.csv", *_random(seed))

    return out


HUGE: dict[str, tuple[list[int], bool]] = {  # name -> (record lengths, gzip)
    f"around_{DUCKDB_BUFFER}.csv": (around(DUCKDB_BUFFER), False),
    f"around_{DUCKDB_MIN_BUFFER}.csv.gz": (around(DUCKDB_MIN_BUFFER), True),
    "one_record_40000000.csv": ([40_000_000], False),
    "one_record_40000000.csv.gz": ([40_000_000], True),
    "one_record_33554432.csv": ([33_554_432], False),
}


def write_huge(folder: Path, name: str) -> FuzzFile:
    """One file of ``HUGE``: records of tens of megabytes around DuckDB's read buffers, among short ones."""
    lengths, gz = HUGE[name]
    w = _long_file(lengths)
    raw = w.data()
    path = folder / name
    path.write_bytes(gzip.compress(raw, compresslevel=1) if gz else raw)
    return FuzzFile(name, path, w.records, list(w.long_lines), (w.records - len(lengths), len(lengths), 0))


def _random(seed: int) -> tuple[Writer, None]:
    """A seeded mixture: good and bad records, quoted newlines, literal quotes, blank lines, CRLF line ends,
    long records, Latin-1 lines, NULs; lengths chosen so records straddle the counter's chunks."""
    rng = random.Random(seed)
    w = Writer(rng.choice([b"\n", b"\r\n"]))
    while len(w.data()) < 3 * CHUNK:
        pick = rng.random()
        if pick < 0.5:
            w.good(rng.randint(1, 50))
        elif pick < 0.6:
            w.of_length(rng.choice([rng.randint(40, 5000), rng.randint(CHUNK // 4, MAX_LINE + 1000)]))
        elif pick < 0.68:
            w.record(b'u%d,"item\nwith ""quotes"" and, commas",cart,1600000400' % rng.randint(0, 9))
        elif pick < 0.74:
            w.record(b'u%d,size 5",view,1600000500' % rng.randint(0, 9))
        elif pick < 0.8:
            w.blank()
        elif pick < 0.86:
            w.record("ü%d,ï,view,1600000600".encode("latin-1") % rng.randint(0, 9))
        elif pick < 0.9:
            w.record(b"u,i,view")  # too few fields
        elif pick < 0.95:
            w.record(b"u%d,i\x00,view,%d" % (rng.randint(0, 9), rng.randint(0, 1 << 30)))
        else:
            w.record(b"u%d,i%d,buy,not a time" % (rng.randint(0, 9), rng.randint(0, 9)))
    return w, None
