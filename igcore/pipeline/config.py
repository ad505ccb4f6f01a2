"""One dataclass config for the whole encode -> embed -> update -> decode -> recommend pipeline.

Layered as everywhere: defaults here < a TOML/JSON file (``--config``) < ``--set key=value`` overrides
(:func:`igcore.config.load_config`). Each stage can be switched off, so an ablation is a config, not a branch.
"""

from __future__ import annotations

import dataclasses

from igcore.config import TrainSettings
from igcore.encode import DEFAULT_TEXT_MODEL


@dataclasses.dataclass(frozen=True)
class PipelineConfig(TrainSettings):  # training settings (lr, epochs, early stopping, device, seed) as SASRec's
    eval_every: int = 1  # but validated every epoch, and stopped two epochs after the best: the recorded
    patience: int = 2  # validation curves (bench results keep every seed's) showed no later best
    # stages
    use_text: bool = True  # pretrained text encoder over item text (when the catalogue has text)
    use_graph: bool = True  # the user-item graph (graph_on says how it acts)
    use_temporal: bool = True  # TGN memory over the event stream
    # encode
    text_model: str = DEFAULT_TEXT_MODEL
    text_start: str = "drawn"  # the text projection's first weights: drawn (at random, as torch draws a layer:
    #                            items of like text start alike) | zero (the text term starts silent and grows as
    #                            far as training finds it useful: for texts that tie together items shoppers
    #                            treat apart; it costs the interest slots some of their grouping by category)
    dim: int = 128  # as SASRec's
    seq_layers: int = 2
    seq_heads: int = 1
    max_len: int = 50
    seq_mixer: str = "attention"  # each layer's token mixer: attention | frequency (BSARec's: mixer_alpha times
    #                               a spectral mix of the window plus the rest attention; prefixes only)
    mixer_alpha: float = 0.7  # frequency: the spectral mix's weight (BSARec's)
    mixer_c: int = 5  # frequency: the low frequencies kept (BSARec's c)
    gap_buckets: int = 16  # log2-spaced buckets of the time since the previous event
    dropout: float = 0.5
    negatives: int = 0  # 0: each target scored against the whole catalogue in training; N: against N items drawn
    #                     uniformly per batch (what makes training on a catalogue of 10^5 items affordable)
    samples: str = "auto"  # training rows: "positions", each user's window with a target at every position;
    #                        "prefixes", one row per target, its prefix, the loss at the last position; "auto",
    #                        prefixes where the windows hold on average at most prefix_limit targets, else positions
    prefix_limit: float = 16.0  # (ablations: prefixes win on the short Amazon histories and overfit on the
    #                             sample's long ones; this lies between the two: samples.prefixes_pay)
    final_apart: bool = False  # batch the rows of users' last training targets apart, as the graph on users does
    #                            (only they read its vectors): an ablation without the graph can keep the batching
    # decode
    interests: int = 0  # K interest vectors per user (0: the fused sequence query alone)
    interest_half_life: float = 8.0  # events back at which a position counts half in an interest's weight
    interest_diversity: float = 0.0  # weight of a penalty on the squared cosine between a user's slots (0: off)
    source_dropout: float = 0.8  # dropout on the graph and memory sources in training (the sequence state has
    #                              the sequence encoder's own; without it, on prefixes the memory takes the gate)
    # embed
    graph_on: str = "score"  # score: the item-item co-occurrence graph scores beside the head (igcore.embed.
    #                           cooccur; counted, not trained: the ablations favour it) | users: a GNN user vector
    #                           at each user's last position, a source of the fusion | items: the item table
    #                           propagated over the graph by the GNN at every position (time-sliced in training)
    graph_weight: float = -1.0  # score: the graph term's weight (igcore.recommend.mix); negative: chosen on
    #                             validation after training among mix.GRAPH_WEIGHTS (0 without validation data)
    graph_neighbours: int = 100  # score: the links each item keeps
    graph_recent: int = 20  # score: the user's latest events whose items' links are summed
    graph_decay: float = 0.9  # score: the weight of each event back
    gnn: str = "gin"  # users, items: gin | gcn | gat | sage | lightgcn
    graph_edges: str = "interactions"  # each user's items | transitions: items one user chose one after another
    #                                     (an item-item graph, graph_on=items only)
    graph_slices: int = 4  # items: training positions read the graph of the events before their time slice
    graph_residual: bool = False  # items: each item's own vector plus the propagated one times a learned weight
    #                               that starts at 0 (else the propagated vector replaces the item's own)
    gnn_layers: int = 3  # user <- items <- their users <- their items: the fewest that bring other users'
    #                      items to a user (user nodes start from zeros, so two layers see only its own items)
    # update
    memory_dim: int = 64
    time_dim: int = 16
    memory_batch: int = 1000  # events per memory update while replaying history
    graph_refresh: int = 1000  # online: re-run the GNN after this many new events (sequence and memory move
    #                            with every event; the graph embeddings of all nodes with this cadence)
    graph_refresh_share: float = 0.01  # ... or after this share of the graph's events, if more: a re-run costs
    #                                    time in proportion to the graph, so an event's share of it stays flat

    @property
    def gnn_stage(self) -> bool:
        """A GNN in the network: the graph acts on users or items (not at the score)."""
        return self.use_graph and self.graph_on != "score"

    @property
    def graph_scores(self) -> bool:
        """The co-occurrence graph scores beside the head (``graph_on="score"``)."""
        return self.use_graph and self.graph_on == "score"

    def name(self) -> str:
        """The benchmark row name of this configuration."""
        off = [s for s, on in (("text", self.use_text), ("graph", self.use_graph), ("temporal", self.use_temporal))
               if not on]
        if len(off) == 3:
            return "igcore-seq-only"
        return "igcore" + "".join(f"-no-{s}" for s in off)

ABLATIONS: dict[str, dict[str, bool]] = {
    "igcore": {},
    "igcore-no-text": {"use_text": False},
    "igcore-no-graph": {"use_graph": False},
    "igcore-no-temporal": {"use_temporal": False},
    "igcore-seq-only": {"use_text": False, "use_graph": False, "use_temporal": False},
}
