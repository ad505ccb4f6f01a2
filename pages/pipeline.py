"""Pipeline: choose the stages and settings, train with a live loss curve, compare with the baselines.

Work lives in igcore.dashboard.training; this page draws. Benchmark files come from bench/results (or
``$IGCORE_BENCH_RESULTS``), cached until a file there changes.
"""

from pathlib import Path
from typing import Any

import streamlit as st

from igcore.dashboard import training
from igcore.dashboard.text import md_literal
from igcore.dashboard.types import DEVICES, GNN_NAMES, GRAPH_ON, IgcoreError, PipelineConfig
from pages import common

GRAPH_LABELS = {"score": "at the score", "users": "on users (GNN)", "items": "on items (GNN)"}
LAST = "pipeline_last_training"  # session key: the last run's outcome, shown again on later reruns


@st.cache_data(show_spinner=False)
def _results(folder: str, stamp: float) -> tuple[list[training.BenchResult], list[str]]:
    return training.bench_results(Path(folder))


@st.cache_data(show_spinner=False)
def _current_model(path: str, checkpoint_stamp: float) -> dict[str, Any] | None:
    return training.current_model(Path(path))


st.title("Pipeline")
st.caption("Train the recommender on the store's events: item text → graph → temporal memory (TGN) → "
           "sequence decoder. Switch stages off to see what each adds.")
path = common.store_path()
current = _current_model(str(path), common.checkpoint_stamp())
if current is None:
    st.info("No model trained on this store yet: choose the settings below and press Train.")
else:
    best = f", best validation NDCG@10 {current['best_valid_ndcg']:.4f}" if current["best_valid_ndcg"] else ""
    rows = f" on {current['rows']}" if current["rows"] else ""
    st.caption(md_literal(f"Current model: {current['model']} ({current['graph']}, dim {current['dim']}), "
                                f"trained at {current['trained_at']} UTC on {current['events']:,} events for "
                                f"{current['epochs']} epochs{rows}{best}."))

defaults = PipelineConfig()
gnns = list(GNN_NAMES)
with st.form("train"):
    st.markdown("**Stages**")
    cols = st.columns(3)
    use_text = cols[0].checkbox("Text encoder", value=defaults.use_text, key="pipeline_use_text",
                                help="Pretrained MiniLM over item titles and descriptions, when there are any")
    use_graph = cols[1].checkbox("Graph", value=defaults.use_graph, key="pipeline_use_graph",
                                 help="The user–item graph: items chosen together, scored beside the model, or a GNN")
    use_temporal = cols[2].checkbox("Temporal memory (TGN)", value=defaults.use_temporal, key="pipeline_use_temporal",
                                    help="Per-user memory advanced by every event, without gradient steps")
    cols = st.columns(5)
    graph_on = cols[0].selectbox("The graph acts", GRAPH_ON, index=GRAPH_ON.index(defaults.graph_on),
                                 key="pipeline_graph_on", format_func=GRAPH_LABELS.get,
                                 help="At the score: items chosen together with the user's latest ones add to each "
                                      "item's score, at a weight chosen on validation. On users or items: a GNN's "
                                      "vectors join the model")
    gnn = cols[1].selectbox("GNN", gnns, index=gnns.index(defaults.gnn), key="pipeline_gnn",
                            help="Used when the graph acts on users or items")
    epochs = cols[2].number_input("Epochs", min_value=1, max_value=1000, value=training.DASHBOARD_EPOCHS, step=1,
                                  key="pipeline_epochs",
                                  help="The bundled sample takes about a minute at the default on 2 CPU cores")
    dim = cols[3].select_slider("Embedding size (dim)", options=training.DIMS, value=defaults.dim, key="pipeline_dim")
    device = cols[4].selectbox("Device", DEVICES, index=DEVICES.index(defaults.device), key="pipeline_device",
                               help="auto picks a CUDA GPU when present, else the CPU")
    interests = st.number_input("Interest slots per user (K)", min_value=0, max_value=16,
                                value=training.DASHBOARD_INTERESTS, step=1, key="pipeline_interests",
                                help="The model's interests, shown as each user's interest graph in the explorer; "
                                     "0: a single query vector (the explorer then shows the observed graph)")
    rebuild = st.checkbox("Rebuild interest snapshots with the trained model", value=True, key="pipeline_rebuild",
                          help="Stores predicted affinities and model top-K lists for the explorer and cohorts")
    start = st.form_submit_button("Train", type="primary")

if start:
    st.session_state.pop(LAST, None)
    bar = st.progress(0.0, text="Starting")
    chart = st.empty()
    log: list[dict[str, Any]] = []

    def report(stage: str, done: int, total: int, info: dict[str, Any]) -> None:
        frac, text = training.progress_text(stage, done, total, info)
        bar.progress(frac, text=text)
        if stage == "train":
            log.append(dict(info))
            chart.plotly_chart(training.loss_figure(log), width="stretch", key=f"loss-live-{len(log)}")

    try:
        config = training.pipeline_config(use_text, use_graph, use_temporal, gnn, int(epochs), int(dim), device,
                                          interests=int(interests), graph_on=graph_on)
        outcome = training.train_pipeline(path, config, report, rebuild)
    except IgcoreError as exc:
        bar.progress(1.0, text="Training stopped")
        st.error(md_literal(f"Training failed: {exc}"))
    else:
        bar.progress(1.0, text="Done")
        common._live_model.clear()  # the next page view loads the new checkpoint
        _current_model.clear()
        st.session_state[LAST] = outcome
        st.success(md_literal(outcome.summary()))
elif LAST in st.session_state:
    outcome = st.session_state[LAST]
    st.success(md_literal(outcome.summary()))
    st.plotly_chart(training.loss_figure(outcome.log), width="stretch", key="loss-last")

st.header("Benchmarks")
folder = training.results_folder()
results, problems = _results(str(folder), training.results_stamp(folder))
for problem in problems:
    st.warning(md_literal(problem))
if not results:
    st.info(f"No benchmark results in {md_literal(folder)} yet: run `igcore bench quality --dataset sample "
            "--protocol temporal` to measure the pipeline against the baselines.")
else:
    labels = [r.label for r in results]
    pick = st.selectbox("Dataset and protocol", range(len(results)), index=training.default_result(results),
                        format_func=lambda i: labels[i], key="pipeline_bench_file")
    result = results[pick]
    headline = (result.headline or "").replace("_", " ")
    st.caption(md_literal(f"Full-catalogue ranking; headline metrics with {headline or 'the file headline'}"
                                f"; {result.machine or 'machine not recorded'}. Rows as the file lists them."))
    st.dataframe(training.bench_table(result), hide_index=True, width="stretch", column_config={
        c: st.column_config.NumberColumn(c, format="%.4f") for c in training.RATIO_COLUMNS} | {
        c: st.column_config.NumberColumn(c, format="%.1f") for c in ("train s", "mean pop@10")})
    st.caption(training.EXPOSURE_CAPTION)

    st.subheader("Stage ablation")
    found = training.ablations(results)
    if not found:
        st.info("No ablation rows yet: run `igcore bench quality --models igcore igcore-no-text igcore-no-graph "
                "igcore-no-temporal igcore-seq-only`.")
    cols = st.columns(2)
    for i, ablation in enumerate(found):
        cols[i % 2].plotly_chart(training.ablation_figure(ablation), width="stretch")
