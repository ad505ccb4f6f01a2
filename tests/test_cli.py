"""The igcore command line, run as a user runs it: a subprocess, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "igcore.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_ingest_prints_the_report(tmp_path: Path):
    events = tmp_path / "e.csv"
    events.write_text("who,sku,when\nu1,i1,100\nu2,i2,nope\n")
    items = tmp_path / "i.csv"
    items.write_text("sku,name\ni1,Shoe\n")
    out = run("ingest", str(events), "--items", str(items), "--db", str(tmp_path / "s.duckdb"),
              "--map", "who=user_id", "--map", "when=ts")
    assert out.returncode == 0, out.stderr
    assert "rows read 2 = loaded 1 + quarantined 1 + duplicate 0" in out.stdout
    assert "rows read 1 = loaded 1 + quarantined 0 + duplicate 0" in out.stdout
    assert "quarantined 1: unparseable timestamp" in out.stdout
    stats = json.loads(run("stats", "--db", str(tmp_path / "s.duckdb"), "--json").stdout)
    assert (stats["events"], stats["catalogue_items"], stats["quarantined"]) == (1, 1, 1)
    q = run("quarantine", "--db", str(tmp_path / "s.duckdb"))
    assert "import 2 line 3: unparseable timestamp: 'nope'" in q.stdout


def test_a_reader_that_stops_early_gets_no_error(tmp_path: Path):
    """igcore stats | head: the reader is gone before the first write; the command stops without a word."""
    proc = subprocess.Popen([sys.executable, "-m", "igcore.cli", "stats", "--db", str(tmp_path / "s.duckdb")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the interpreter has even started: every write meets a closed pipe
    _, err = proc.communicate(timeout=120)
    assert err == b"" and proc.returncode == 1


def test_errors_are_one_line_without_traceback(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    for args in (("ingest", str(bad)), ("ingest", str(tmp_path / "missing.csv")), ("dataset", "nope"),
                 ("ingest", str(bad), "--set", "nosuch=1"), ("ingest",)):
        out = run(*args, "--db", str(tmp_path / "s.duckdb"))
        assert out.returncode == 1, args
        assert out.stderr.startswith("igcore: error: ") and "Traceback" not in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_sample_loads_and_generates(tmp_path: Path):
    out = run("sample", "--db", str(tmp_path / "s.duckdb"))
    assert "rows read 150,000 = loaded 150,000" in out.stdout
    gen = run("sample", "--generate", str(tmp_path / "gen"), "--users", "20", "--items", "30", "--events", "500")
    assert gen.returncode == 0 and (tmp_path / "gen" / "events.csv.gz").exists()
