"""What the dashboard trains by default, against the library's defaults, on the bundled sample.

Each setting trains on its own copy of the sample's store through the Pipeline page's own call
(:func:`igcore.dashboard.training.train_pipeline`: text vectors encoded once beforehand, as a first start leaves
them; no snapshot rebuild): ``dashboard`` is :func:`igcore.dashboard.training.pipeline_config` with its defaults,
``library`` is ``PipelineConfig()`` (early stopping on validation); other rows are ``--set`` variants of the
dashboard's settings. Validation is the page's: each user's last event. Written to
``bench/results/dashboard-training.json`` and the section of the same name in docs/BENCHMARKS.md (target: the
dashboard reaches at least 90% of the library's best validation NDCG@10 within 60 s).

    OMP_NUM_THREADS=1 .venv/bin/python bench/dashboard_training.py [--only dashboard library] [--set epochs=3 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from igcore.benchio import locked, machine, read_json, today, write_json, write_section  # noqa: E402
from igcore.config import load_config, parse_assignments  # noqa: E402
from igcore.dashboard.overview import prepare_store  # noqa: E402
from igcore.dashboard.training import pipeline_config, train_pipeline  # noqa: E402
from igcore.encode.side import load_side_info  # noqa: E402
from igcore.pipeline.config import PipelineConfig  # noqa: E402
from igcore.store import Store  # noqa: E402

OUT = "dashboard-training"
TARGET_SHARE, TARGET_S = 0.9, 60.0


def run(name: str, config: PipelineConfig, source: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="igcore-dash-train-") as tmp:
        db = Path(tmp) / "store.duckdb"
        shutil.copy(source, db)
        outcome = train_pipeline(db, config, rebuild_snapshots=False)
    row = {"valid_ndcg@10": outcome.best_valid_ndcg, "seconds": round(outcome.seconds, 1), "epochs": len(outcome.log),
           "settings": {f.name: getattr(config, f.name) for f in config.__dataclass_fields__.values()
                        if getattr(config, f.name) != getattr(PipelineConfig(), f.name)},
           "date": today(), "machine": machine()}
    print(name, row["valid_ndcg@10"], row["seconds"], flush=True)
    return row


def table(rows: dict[str, dict]) -> str:
    library = rows.get("library", {}).get("valid_ndcg@10")
    lines = ["## Dashboard training", "",
             "`.venv/bin/python bench/dashboard_training.py`: the Pipeline page's training on the bundled sample "
             "(its own call, on a copy of the store with the item texts already encoded; validation: each user's "
             "last event), against the library's defaults. Target: the dashboard's default reaches at least "
             f"{TARGET_SHARE:.0%} of the library's best validation NDCG@10 within {TARGET_S:.0f} s.", "",
             "| run | settings (beyond the library's) | best valid NDCG@10 | share of library | epochs | seconds | "
             "date | machine |", "|---|---|---:|---:|---:|---:|---|---|"]
    for name, r in rows.items():
        share = f"{r['valid_ndcg@10'] / library:.0%}" if library and r["valid_ndcg@10"] is not None else "–"
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items() if k != "device") or "–"
        lines.append(f"| {name} | {settings} | {r['valid_ndcg@10']:.4f} | {share} | {r['epochs']} | "
                     f"{r['seconds']:.0f} | {r['date']} | {r['machine']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", default=["dashboard", "library"], help="dashboard | library")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="also run the dashboard's settings with these overrides (one row)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="igcore-dash-src-") as tmp:
        source = Path(tmp) / "sample.duckdb"
        prepare_store(source)  # the store a first start leaves (sample loaded, snapshots built)
        with Store(source) as store:  # and the item texts encoded, as the page's first training leaves them
            load_side_info(store, "cpu", PipelineConfig.text_model, True)
        jobs = {name: pipeline_config(device="cpu") if name == "dashboard" else PipelineConfig(device="cpu")
                for name in args.only}
        if args.set:
            jobs["dashboard[" + ",".join(args.set) + "]"] = load_config(
                PipelineConfig, None, {**dataclasses.asdict(pipeline_config(device="cpu")),
                                       **parse_assignments(args.set)})
        for name, config in jobs.items():
            row = run(name, config, source)
            with locked(OUT):
                rows = {**(read_json(OUT) or {}), name: row}
                write_json(OUT, rows)
                write_section(OUT, table(rows))


if __name__ == "__main__":
    main()
