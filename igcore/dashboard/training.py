"""The pipeline page's work: build a config from the page's choices, train with progress, rebuild the interest
snapshots with the new model, and read the benchmark tables and stage ablations. No Streamlit in here.

Training reads the store and writes its checkpoint beside it, so it holds only a read-only connection (the CLI
and other pages may keep reading). The one store write training can need, caching item text vectors, is done
first on its own, with a writer opened only when the cache lacks vectors. Benchmark files are data from disk:
model names reach figures only ``html.escape``d (plotly renders some HTML); tables keep the raw text.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from igcore.benchio import RESULTS
from igcore.config import load_config
from igcore.dashboard.axes import axis_format
from igcore.dashboard.status import graph_text
from igcore.dashboard.text import figure_text
from igcore.device import resolve_device
from igcore.encode.side import load_side_info, missing_text_vectors
from igcore.errors import IgcoreError
from igcore.evaluate.protocols import PROTOCOLS
from igcore.interests.config import InterestConfig
from igcore.interests.scoring import ModelScorer
from igcore.interests.snapshots import build_snapshots, stored_config
from igcore.pipeline.checkpoint import META, read_meta
from igcore.pipeline.config import ABLATIONS, PipelineConfig
from igcore.pipeline.run import checkpoint_dir, train
from igcore.pipeline.samples import ROW_NAMES
from igcore.progress import Progress, no_progress
from igcore.store import Store

# The dashboard's default epoch count: what a first look on the bundled sample can afford on a laptop's CPU.
# Fixed costs (the memory replay before training, state replays and saving after it, encoding item text once)
# come on top of the epochs; more epochs reach a better model (the page shows the loss curve), and the library's
# default (early stopping) is for benchmarks. docs/BENCHMARKS.md ("Dashboard") measures what it takes.
DASHBOARD_EPOCHS = 2
# The dashboard trains interest slots by default: they are what the explorer shows as the model's interest graph.
# How many: the most whose training still fits the dashboard's minute on the sample; more slots found more of the
# planted drift on the log kept for choosing (docs/BENCHMARKS.md, "Interest graphs" and "Dashboard training").
DASHBOARD_INTERESTS = 8
DIMS = (16, 32, 64, 128, 256)
RESULTS_ENV = "IGCORE_BENCH_RESULTS"  # a folder of <dataset>-<protocol>.json to show instead of bench/results
REFERENCE = "SASRec"  # the ablation charts' reference row
TABLE_COLUMNS = {"ndcg@10": "NDCG@10", "hr@10": "HR@10", "mrr": "MRR", "gini_exposure@10": "Gini@10",
                 "aplt@10": "APLT@10", "mean_pop@10": "mean pop@10", "ndcg@10_light": "NDCG@10 light",
                 "ndcg@10_medium": "NDCG@10 medium", "ndcg@10_heavy": "NDCG@10 heavy", "train_s": "train s",
                 "seeds_run": "seeds", "date": "date"}
RATIO_COLUMNS = ("NDCG@10", "HR@10", "MRR", "Gini@10", "APLT@10", "NDCG@10 light", "NDCG@10 medium",
                 "NDCG@10 heavy")  # shares between 0 and 1, shown to four places
EXPOSURE_CAPTION = ("Beside accuracy, exposure of the top-10 lists: Gini@10 of how often each item is shown (0: "
                    "evenly), APLT@10 the share of long-tail items in a list, mean pop@10 the average training "
                    "popularity of what is shown; NDCG@10 by user activity (thirds of users by training history). "
                    "A dash: the row was measured before these columns existed.")
# Where each stage's progress lands on the one bar: (start, end) of the whole run.
STAGE_SPANS = {"encode": (0.0, 0.1), "memory": (0.1, 0.2), "train": (0.2, 0.9), "interests": (0.9, 1.0)}
# --- training ----------------------------------------------------------------------------------------------------
def pipeline_config(use_text: bool = True, use_graph: bool = True, use_temporal: bool = True, gnn: str = "gin",
                    epochs: int = DASHBOARD_EPOCHS, dim: int = PipelineConfig.dim, device: str = "auto",
                    file: str | Path | None = None, interests: int = DASHBOARD_INTERESTS,
                    graph_on: str = PipelineConfig.graph_on) -> PipelineConfig:
    """The page's choices layered over the defaults (and an optional TOML/JSON file), as ``igcore train`` does;
    a wrong value is an IgcoreError naming the setting."""
    overrides = {"use_text": use_text, "use_graph": use_graph, "use_temporal": use_temporal, "gnn": gnn,
                 "epochs": int(epochs), "dim": int(dim), "device": device, "interests": int(interests),
                 "graph_on": graph_on}
    return load_config(PipelineConfig, file, overrides)


@dataclasses.dataclass(frozen=True)
class TrainOutcome:
    """What a training run left: where the checkpoint is, how it went, and the snapshot rebuild (if asked)."""

    checkpoint: Path
    model: str  # the configuration's benchmark row name (igcore, igcore-no-text, ...)
    seconds: float  # training alone, from the first read to the saved checkpoint
    trained_at: str
    log: list[dict[str, Any]]  # one entry per epoch: epoch, loss, s, and valid_ndcg@10 when validated
    snapshots: str | None  # the rebuild's summary, or None when not asked
    graph: dict[str, Any] | None = None  # the graph at the score: its weight, validation NDCG@10 at each tried

    @property
    def best_valid_ndcg(self) -> float | None:
        return valid_ndcg(self.log, self.graph)

    def summary(self) -> str:
        best = self.best_valid_ndcg
        graph = f" with the graph's weight {self.graph['weight']:g}" if self.graph else ""
        line = (f"Trained {self.model} in {self.seconds:.0f} s ({len(self.log)} epochs"
                + (f", best validation NDCG@10 {best:.4f}{graph}" if best is not None else "") + f"); checkpoint "
                f"saved at {self.trained_at} UTC to {self.checkpoint}")
        return line + (f". Interest snapshots rebuilt with the model: {self.snapshots}" if self.snapshots else "")


def train_pipeline(db_path: Path, config: PipelineConfig, progress: Progress = no_progress,
                   rebuild_snapshots: bool = True) -> TrainOutcome:
    """Train on the store's events and save the checkpoint beside the store; then, if asked, rebuild every
    user's interest snapshots (with their stored settings) so predicted affinities and model lists are stored.

    Raises IgcoreError for what a user can fix (no events, no CUDA, store in use)."""
    db_path = Path(db_path)
    if not db_path.exists():
        raise IgcoreError(f"the store {db_path} does not exist yet: import some events first")
    resolve_device(config.device)  # no CUDA when asked for: say so before anything runs
    t0 = time.perf_counter()
    progress("encode", 0, 1, {})
    with Store(db_path, read_only=True) as store:
        missing = missing_text_vectors(store, config.text_model, config.use_text)
    if missing:  # the one write training needs, done briefly on its own
        with Store(db_path) as store:
            load_side_info(store, config.device, config.text_model, config.use_text, progress)
    with Store(db_path, read_only=True) as store:
        model, path = train(store, config, progress=progress)
    seconds = time.perf_counter() - t0
    meta = read_meta(path)[1]
    report = None
    if rebuild_snapshots:
        scorer = ModelScorer.from_meta(model, meta)
        with Store(db_path) as store:
            report = build_snapshots(store, stored_config(store) or InterestConfig(), scorer, progress).summary()
    return TrainOutcome(path, config.name(), seconds, meta["trained_at"], list(model.log), report, meta.get("graph"))


def valid_ndcg(log: list[dict[str, Any]], graph: dict[str, Any] | None) -> float | None:
    """A trained model's validation NDCG@10 from its checkpoint's record: the best epoch's, with the graph's term
    at the weight chosen (``graph``, where validation chose one); None when nothing was validated."""
    if graph and graph.get("valid_ndcg@10"):
        return graph["valid_ndcg@10"][str(graph["weight"])]
    scores = [e["valid_ndcg@10"] for e in log if "valid_ndcg@10" in e]
    return max(scores) if scores else None


def current_model(db_path: Path) -> dict[str, Any] | None:
    """The store's checkpoint as the page summarises it (name, when, events, epochs, best validation NDCG@10),
    or None before any training."""
    path = checkpoint_dir(db_path)
    if not (path / META).exists():
        return None
    meta = json.loads((path / META).read_text(encoding="utf-8"))
    config = meta.get("config", {})
    fields = {f.name for f in dataclasses.fields(PipelineConfig)}
    name = PipelineConfig(**{k: v for k, v in config.items() if k in fields}).name()
    log = meta.get("log", [])
    return {"model": name, "trained_at": meta.get("trained_at"), "events": meta.get("events"), "epochs": len(log),
            "best_valid_ndcg": valid_ndcg(log, meta.get("graph")), "graph": graph_text(config, meta.get("graph")),
            "dim": config.get("dim"), "rows": ROW_NAMES.get(meta.get("samples")), "path": str(path)}



def progress_text(stage: str, done: int, total: int, info: dict[str, Any]) -> tuple[float, str]:
    """Where one progress report puts the page's single bar (0..1) and what it says."""
    start, end = STAGE_SPANS.get(stage, (0.0, 1.0))
    frac = start + (end - start) * (min(done / total, 1.0) if total else 0.0)
    if stage == "encode":
        return frac, "Encoding item text"
    if stage == "memory":
        return frac, "Replaying the training events into the temporal memory"
    if stage == "train":
        text = f"Epoch {done}/{total}: loss {info['loss']:.4f}" if "loss" in info else f"Epoch {done}/{total}"
        if "valid_ndcg@10" in info:
            text += f", validation NDCG@10 {info['valid_ndcg@10']:.4f}"
        if done >= total:
            text += "; replaying every event and saving the checkpoint"
        return frac, text
    if stage == "interests":
        return frac, "Rebuilding interest snapshots with the model" + (f": {info['step']}" if "step" in info else "")
    return frac, stage


def loss_figure(log: list[dict[str, Any]]) -> go.Figure:
    """Training loss per epoch (left axis, log scale: the first epochs fall steeply) and validation NDCG@10
    where it was measured (right axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=[int(e["epoch"]) for e in log], y=[float(e["loss"]) for e in log],
                             mode="lines+markers", name="training loss"), secondary_y=False)
    valid = [e for e in log if "valid_ndcg@10" in e]
    if valid:
        fig.add_trace(go.Scatter(x=[int(e["epoch"]) for e in valid], y=[float(e["valid_ndcg@10"]) for e in valid],
                                 mode="lines+markers", name="validation NDCG@10"), secondary_y=True)
    fig.update_xaxes(title_text="epoch", dtick=1 if len(log) <= 20 else None)
    fig.update_yaxes(title_text="loss", secondary_y=False, **axis_format([e["loss"] for e in log], "log"))
    fig.update_yaxes(title_text="NDCG@10", secondary_y=True, rangemode="tozero")
    fig.update_layout(title="Training", height=360, margin={"t": 50, "b": 40}, legend={"orientation": "h"})
    return fig


# --- benchmark results -------------------------------------------------------------------------------------------
def results_folder() -> Path:
    """``$IGCORE_BENCH_RESULTS`` when set, else where the benchmarks write (bench/results)."""
    return Path(os.environ.get(RESULTS_ENV) or RESULTS)


def results_stamp(folder: Path = RESULTS) -> float:
    """Changes whenever a results file does: a cache key."""
    folder = Path(folder)
    return max((p.stat().st_mtime for p in folder.glob("*.json")), default=0.0) if folder.is_dir() else 0.0


@dataclasses.dataclass(frozen=True)
class BenchResult:
    """One ``<dataset>-<protocol>.json``: its rows in the order the file lists them."""

    dataset: str
    protocol: str
    headline: str | None  # which ranking variant the row's top-level metrics are (history excluded or not)
    machine: str | None
    models: dict[str, dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.dataset} · {self.protocol}"


def bench_results(folder: Path = RESULTS) -> tuple[list[BenchResult], list[str]]:
    """Every quality result in ``folder`` (files named ``<dataset>-<protocol>.json``, sorted by name), and one
    line for each such file that could not be read."""
    folder = Path(folder)
    found, problems = [], []
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.glob("*.json")):
        dataset, _, protocol = path.stem.rpartition("-")
        if not dataset or protocol not in PROTOCOLS:
            continue  # speed.json, interests.json and other figures
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            models = data["models"]
            if not isinstance(models, dict) or not all(isinstance(r, dict) for r in models.values()):
                raise ValueError("'models' is not a table of rows")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path.name}: not a readable results file ({exc})")
            continue
        found.append(BenchResult(str(data.get("dataset", dataset)), str(data.get("protocol", protocol)),
                                 data.get("headline"), data.get("machine"),
                                 {str(name): {**row, "date": row.get("date", data.get("date"))}
                                  for name, row in models.items()}))
    return found, problems


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def bench_table(result: BenchResult) -> pd.DataFrame:
    """model, accuracy, exposure and NDCG@10 by activity group (``TABLE_COLUMNS``), train s, seeds, date: one row
    per model as the file lists them; a figure the row lacks is empty."""
    rows = []
    for name, row in result.models.items():
        out: dict[str, Any] = {"model": name}
        for key, column in TABLE_COLUMNS.items():
            value = row.get(key)
            if key == "date":
                out[column] = None if value is None else str(value)
            elif key == "seeds_run":
                out[column] = int(value) if _number(value) is not None else None
            else:
                out[column] = _number(value)
        rows.append(out)
    frame = pd.DataFrame(rows, columns=["model", *TABLE_COLUMNS.values()])
    return frame.astype({"seeds": "Int64"})


def default_result(results: list[BenchResult]) -> int:
    """The table shown first: the first file with a row of the pipeline, else the bundled sample's realistic
    split (temporal), else the first file."""
    with_model = (i for i, r in enumerate(results) if "igcore" in r.models)
    sample = (i for i, r in enumerate(results) if (r.dataset, r.protocol) == ("sample", "temporal"))
    return next(with_model, next(sample, 0))


@dataclasses.dataclass(frozen=True)
class Ablation:
    """The stage-ablation rows of one results file, and the reference model's NDCG@10 when present."""

    dataset: str
    protocol: str
    rows: pd.DataFrame  # model, ndcg@10, ndcg@10_std, hr@10 (ABLATIONS order)
    reference: float | None


def ablations(results: list[BenchResult]) -> list[Ablation]:
    """For each results file holding any ablation row (igcore, igcore-no-text, ...), those rows."""
    out = []
    for result in results:
        rows = [{"model": name, "ndcg@10": _number(result.models[name].get("ndcg@10")),
                 "ndcg@10_std": _number(result.models[name].get("ndcg@10_std")),
                 "hr@10": _number(result.models[name].get("hr@10"))}
                for name in ABLATIONS if name in result.models]
        if rows:
            ref = result.models.get(REFERENCE, {}).get("ndcg@10")
            out.append(Ablation(result.dataset, result.protocol, pd.DataFrame(rows), _number(ref)))
    return out


def ablation_figure(ablation: Ablation) -> go.Figure:
    """NDCG@10 per stage configuration (error bars: std over seeds), the reference model as a dashed line."""
    rows = ablation.rows
    stds = rows["ndcg@10_std"].tolist()
    error = {"type": "data", "array": [0.0 if s is None or pd.isna(s) else s for s in stds]} \
        if any(s is not None and not pd.isna(s) for s in stds) else None
    fig = go.Figure(go.Bar(
        x=[figure_text(m) for m in rows["model"]],
        y=[None if v is None or pd.isna(v) else float(v) for v in rows["ndcg@10"]],
        error_y=error, name="NDCG@10",
        customdata=[None if v is None or pd.isna(v) else float(v) for v in rows["hr@10"]],
        hovertemplate="%{x}<br>NDCG@10 %{y:.4f}<br>HR@10 %{customdata:.4f}<extra></extra>"))
    if ablation.reference is not None:
        fig.add_hline(y=ablation.reference, line_dash="dash",
                      annotation_text=f"{figure_text(REFERENCE)} {ablation.reference:.4f}",
                      annotation_position="top left")
    fig.update_layout(title=f"{figure_text(ablation.dataset)} · {figure_text(ablation.protocol)}: NDCG@10 by stage",
                      yaxis_title="NDCG@10", height=360, margin={"t": 50, "b": 40})
    return fig
