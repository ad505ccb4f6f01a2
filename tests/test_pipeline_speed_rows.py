"""bench/pipeline_speed.py: a run keeps, dated, the rows of the datasets it did not measure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("pipeline_speed",
                                              Path(__file__).parents[1] / "bench" / "pipeline_speed.py")
pipeline_speed = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(pipeline_speed)


def _row(events: int) -> dict:
    timing = {"p50_ms": 1.0, "p99_ms": 2.0}
    return {"events": events, "batch": 1000, "update_events_per_s": 5, "rebuild_s": 0.5, "rebuild_events": 9,
            "one_event_update_and_top10": timing, "top10_only": timing}


def test_a_run_keeps_the_rows_it_did_not_measure_with_their_date_and_machine():
    earlier = {"date": "2026-12-07", "machine": "old", "stream": {"sample": _row(1), "taobao": _row(2)},
               "top10": {"beauty": {"items": 3}}}
    now = {"date": "2026-12-08", "machine": "new", "how": "h", "torch_threads": 2, "stream": {"sample": _row(4)},
           "top10": {"beauty": {"items": 3, "igcore_top10": {"p50_ms": 1.0, "p99_ms": 2.0},
                                "sasrec_top10": {"p50_ms": 1.0, "p99_ms": 2.0}}}}
    out = pipeline_speed.merged(earlier, now)
    assert {name: (r["events"], r["date"], r["machine"]) for name, r in out["stream"].items()} == {
        "sample": (4, "2026-12-08", "new"), "taobao": (2, "2026-12-07", "old")}
    assert out["top10"]["beauty"]["date"] == "2026-12-08"
    again = pipeline_speed.merged(out, {**now, "date": "2026-12-09", "stream": {"sample": _row(5)}})
    assert again["stream"]["taobao"]["date"] == "2026-12-07"  # a kept row keeps its own date
    table = pipeline_speed.render(again)
    assert "| taobao | 2 | 1000 | 5 | 0.50 (9 events) | 1.00 / 2.00 | 1.00 / 2.00 | 2026-12-07 | old |" in table
