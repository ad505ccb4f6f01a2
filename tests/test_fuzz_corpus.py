"""The generated fuzz corpus (tests/corpus/fuzz.py): for every file, the import reads exactly the records the
generator wrote, and each one is loaded, quarantined with a reason, or counted as a duplicate."""

from __future__ import annotations

from pathlib import Path

import pytest

from igcore.ingest import import_events
from igcore.ingest.records import CountingSink
from igcore.store import Store
from tests.corpus.fuzz import HUGE, FuzzFile, write_corpus, write_huge


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FuzzFile]:
    return {f.name: f for f in write_corpus(tmp_path_factory.mktemp("fuzz"))}


def check(store: Store, case: FuzzFile) -> None:
    report = import_events(store, case.path)
    assert report.rows_read == case.records, report.summary()
    assert report.rows_loaded + report.rows_quarantined + report.rows_duplicate == case.records
    if case.expect is not None:
        assert (report.rows_loaded, report.rows_quarantined, report.rows_duplicate) == case.expect
    rows = store.rows("SELECT line_no, reason FROM quarantine WHERE import_id = ? ORDER BY line_no",
                      [report.import_id])
    assert len(rows) == report.rows_quarantined == case.records - report.rows_loaded - report.rows_duplicate
    assert all(reason and line >= 2 for line, reason in rows)
    assert len({line for line, _ in rows}) == len(rows), "one quarantine row per record"
    assert int(store.value("SELECT count(*) FROM events WHERE import_id = ?", [report.import_id])) == \
        report.rows_loaded
    reasons = dict(rows)
    for line in case.long_lines:
        assert reasons[line].startswith("unreadable line: line size over maximum"), (line, reasons.get(line))


FAST = ["around_max_line.csv", "around_max_line.csv.gz", *(f"chunk_edge_crlf_{i}.csv" for i in range(4)),
        "embedded_nul.csv", "cr_only.csv", "unbalanced_quote_eof.csv", "lone_quote_eof.csv", "bom_mid_file.csv",
        "mixed_utf8_latin1.csv", "quotes_blanks_duplicate.csv", "utf16_long.csv",
        *(f"random_{seed}.csv" for seed in range(4))]


def test_corpus_lists_every_file(corpus):
    assert sorted(corpus) == sorted(FAST)


@pytest.mark.parametrize("name", FAST)
def test_fuzz_file(name: str, corpus: dict[str, FuzzFile], store: Store):
    check(store, corpus[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HUGE))
def test_fuzz_file_with_huge_records(name: str, tmp_path: Path, store: Store):
    check(store, write_huge(tmp_path, name))


def counted(data: bytes, chunk: int, limit: int = 10) -> tuple[int, int, tuple[int, ...], list[tuple[int, int]]]:
    sink = CountingSink(limit, lambda _head: ",")
    for i in range(0, len(data), chunk):
        sink.update(data[i:i + chunk])
    got = sink.result()
    return got.records, got.lines, got.blank_lines, [(r.line_no, r.nbytes) for r in got.long_records]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1000])
def test_counter_reads_the_dialect_in_any_chunking(chunk: int):
    data = (b'h,h\r\na,"b\r\nc"\r\n\r\nx,5"\r\n"q""",1\rlonger,than ten\n\n"open,\n')
    # lines: header, record over two physical lines, blank, literal quote, escaped quote (CR end),
    # a 15-byte record (over the limit of 10: 16 bytes with its line end), blank, an unterminated quote
    assert counted(data, chunk) == (5, 8, (3, 7), [(6, 16)])
