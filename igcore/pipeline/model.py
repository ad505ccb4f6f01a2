"""The pipeline as a :class:`Recommender`: the network, its online state, and scoring from both.

``fit`` builds the network and a fresh online state, trains (:mod:`igcore.pipeline.trainer`) and replays the
log into the state; ``restore`` does the same from saved weights without training. ``update`` and ``fork`` move
the online state (:mod:`igcore.update.online`); ``score`` reads the network over it. The item table and the
graph user vectors are computed once and reused until the graph has grown by ``graph_refresh`` events.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch

from igcore.decode.interests import InterestExtractor
from igcore.decode.track import InterestTrack, track_windows
from igcore.embed.cooccur import linked_by
from igcore.embed.graph import graph_operator
from igcore.encode.item_encoder import attr_matrix, text_matrix
from igcore.encode.side import SideInfo
from igcore.events import Interactions
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.grow import Joined
from igcore.pipeline.net import IgcoreNet, ItemTables
from igcore.pipeline.scored_graph import ScoredGraph
from igcore.pipeline.serve import serving_state
from igcore.pipeline.training import SeededModel, validation_ndcg
from igcore.pipeline.windows import windows
from igcore.pipeline.workers import ALONE, Workers
from igcore.progress import Progress, no_progress
from igcore.ranking import top_k
from igcore.recommend.serving import ServingState
from igcore.update.memory import InterestMemory, MessageInputs
from igcore.update.online import OnlineState
from igcore.update.saved import SavedOnline

MEMORY_STATE = {"memory", "last_update", "_assoc"}  # replayed from events, not saved


class IgcoreRecommender(SeededModel):
    config_class = PipelineConfig

    def __init__(self, config: PipelineConfig | None = None, side: SideInfo | None = None, **overrides) -> None:
        super().__init__(config, **overrides)
        self.name = self.cfg.name()
        self.side = side or SideInfo()
        self._tables: ItemTables | None = None
        self._graph_due = False  # the graph grew past its refresh point: the next read of the tables re-runs it
        self.samples: str | None = None  # the training rows the last fit used (samples=auto resolved)
        self.scored_graph = ScoredGraph.of(self.cfg)  # the graph stage at the score, or None (set by _build)
        self.graph_choice: dict[float, float] = {}  # validation NDCG@10 at each graph weight tried

    @property
    def memory(self) -> InterestMemory | None:
        return self.state.memory

    # --- build --------------------------------------------------------------------------------------
    def fit(self, train: Interactions, valid: Interactions | None = None, progress: Progress = no_progress,
            final_state: bool = True, workers: Workers = ALONE) -> None:
        """Train (as one of data-parallel ``workers``: :mod:`igcore.pipeline.ray_train`); then
        (``final_state``) rebuild the online state from ``train``. A caller that rebuilds it from a larger log
        right after (:func:`igcore.pipeline.run.train`) skips that replay."""
        from igcore.pipeline.trainer import train_network

        rng = self._seed()
        text = text_matrix(self.side, train.item_ids) if self.cfg.use_text else None
        self._build(train, text, *attr_matrix(self.side, train.item_ids))
        self.state.set_histories(train)
        train_network(self, train, valid, rng, progress, workers)
        if final_state:
            self.rebuild_state(train)

    def restore(self, events: Interactions, weights: dict[str, torch.Tensor]) -> None:
        """Rebuild a trained model from its weights and the events it should know (no training)."""
        self._load(events, weights)
        self.rebuild_state(events)

    def resume(self, events: Interactions, weights: dict[str, torch.Tensor], saved: SavedOnline) -> bool:
        """Rebuild a trained model whose online state took in ``events`` and was saved as ``saved``
        (:meth:`saved_online`): the same state as the model that saved it, without replaying the log. Users and
        items that joined since get empty memories. True when the saved item tables still serve: no item
        joined, or the graph acts on users (its saved vectors hold until its next refresh, as after any event;
        joined items only add their own rows); False when they are recomputed over the graph as it stands."""
        self._load(events, weights)
        tensors = {k: v.to(self.device) for k, v in saved.tensors.items()}
        items = tensors["base"].shape[0] - 1
        if self.memory is not None:  # nodes: users, then items; each part keeps its saved rows first
            users = tensors["memory"].shape[0] - items
            for name in ("memory", "last_update"):
                mine, theirs = getattr(self.memory.tgn, name), tensors[name]
                mine[:users], mine[self.n_users:self.n_users + items] = theirs[:users], theirs[users:]
        kept = items == self.n_items or not (self.cfg.gnn_stage and self.cfg.graph_on == "items")
        self.state.resume(events, saved.pending if kept else 0)
        if kept:
            base, graph_user = tensors["base"], tensors.get("graph_user")
            if items < self.n_items:  # the joined items' rows, from their own weights
                self.net.eval()
                with torch.no_grad():
                    base = torch.cat([base, self.net.items()[items + 1:]])
            if graph_user is not None and len(graph_user) < self.n_users:
                graph_user = torch.cat([graph_user, graph_user.new_zeros(self.n_users - len(graph_user),
                                                                         graph_user.shape[1])])
            self._keep_tables(ItemTables(tensors.get("table", base), base, graph_user))
        return kept

    def saved_online(self, key: str, events: int, joined: Joined | None = None) -> SavedOnline:
        """The online state to save (:mod:`igcore.update.saved`), having taken in ``events`` events (keyed
        ``key``): the memory's buffers, the item tables (and graph user vectors) cached since the graph's last
        refresh and the ``joined`` users and items with their rows; :meth:`resume` reads it back."""
        tables = self._item_tables()
        out = {"base": tables.base}
        if tables.table is not tables.base:  # the graph propagated it (``graph_on="items"``)
            out["table"] = tables.table
        if tables.graph_user is not None:
            out["graph_user"] = tables.graph_user
        if self.memory is not None:
            out.update(memory=self.memory.tgn.memory, last_update=self.memory.tgn.last_update)
        joined = joined or Joined()
        out.update({f"rows.{k}": v for k, v in joined.rows.items()})
        return SavedOnline({k: v.detach().cpu().contiguous() for k, v in out.items()}, key, events,
                           self.state.pending, joined.users, joined.items)

    def _load(self, events: Interactions, weights: dict[str, torch.Tensor]) -> None:
        """A network and memory for ``events``' users and items with the learned ``weights``."""
        text, attrs = weights.get("net.items.text"), weights.get("net.items.attrs")
        n_attrs = weights["net.items.attr_bag.weight"].shape[0] - 1 if attrs is not None else 0
        self._build(events, text, attrs, n_attrs)
        self.net.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("net.")})
        self.net.eval()
        if self.scored_graph is not None and "graph.weight" in weights:
            self.scored_graph.weight = float(weights["graph.weight"])
        if self.memory is not None:
            own = {k[7:]: v for k, v in weights.items() if k.startswith("memory.")}
            self.memory.load_state_dict({**self.memory.state_dict(), **own})

    def _build(self, events: Interactions, text: torch.Tensor | None, attrs: torch.Tensor | None,
               n_attrs: int) -> None:
        """A fresh network, then a fresh memory (in this order: it fixes their random initial draws)."""
        cfg = self.cfg
        self.n_users, self.n_items, self.item_ids = events.n_users, events.n_items, events.item_ids
        self.type_names = tuple(events.type_names)
        self.net = IgcoreNet(cfg, self.n_users, self.n_items, max(len(events.type_names), 1), text, attrs,
                             n_attrs).to(self.device)
        memory = InterestMemory(self.n_users, self.n_items, cfg.memory_dim, cfg.time_dim,
                                self.net.message_dim).to(self.device) if cfg.use_temporal else None
        self.state = OnlineState(self.n_users, memory, cfg.memory_batch, self._message_inputs)
        self._tables = None
        self._inputs: MessageInputs | None = None  # the memory's, from the item table's vectors
        self.scored_graph = ScoredGraph.of(cfg)

    def rebuild_state(self, events: Interactions) -> None:
        """The canonical online state for a log (:meth:`OnlineState.replay`); a restored checkpoint rebuilds
        the same way, so its scores are identical."""
        self.state.replay(events)
        self._tables = None
        self._forget_graph()

    def weights(self) -> dict[str, torch.Tensor]:
        """Everything learned or drawn at random (net, memory modules); not the replayable memory state."""
        out = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        if self.memory is not None:
            out.update({f"memory.{k}": v for k, v in self.memory.state_dict().items()
                        if k.split(".")[-1] not in MEMORY_STATE})
        if self.scored_graph is not None:
            out["graph.weight"] = torch.tensor(self.scored_graph.weight)
        return {k: v.detach().cpu().contiguous() for k, v in out.items()}

    def named_tensors(self) -> list[tuple[str, torch.Tensor]]:
        """Every tensor the model computes with: the network's and memory's parameters and buffers, and the
        item tables cached for scoring (what :func:`igcore.device.off_device` audits)."""
        out = [(f"net.{k}", v) for k, v in [*self.net.named_parameters(), *self.net.named_buffers()]]
        if self.memory is not None:
            out += [(f"memory.{k}", v) for k, v in [*self.memory.named_parameters(), *self.memory.named_buffers()]]
        if self._tables is not None:
            out += [(f"tables.{k}", v) for k, v in self._tables._asdict().items() if v is not None]
        return out

    # --- online -------------------------------------------------------------------------------------
    def update(self, events: Interactions) -> bool:
        """Take in new events without a gradient step: sequences and memory reflect every event at once; the
        GNN re-runs over the grown graph once ``graph_refresh`` events (or ``graph_refresh_share`` of the
        graph's events, if more) have come in, at the next read of the item tables (a score, a serving state),
        so one event costs time for its own user, not a pass over the whole graph, and batches that nothing
        reads in between share one re-run. True when the item tables are due for that re-run (every user's
        scores may move), False when only the users of ``events`` moved (always, without a graph stage)."""
        every = max(self.cfg.graph_refresh, int(self.cfg.graph_refresh_share * self.state.n_events))
        if not (self.state.update(events, every) and self.cfg.use_graph):
            return False
        self._forget_graph()
        return True

    def fork(self, users: np.ndarray) -> IgcoreRecommender:
        """A copy whose online state can move on alone for events of ``users``; it shares the learned weights
        (only read), so it costs the copied state, not a deep copy."""
        twin = copy.copy(self)
        twin.state = self.state.fork(users)
        return twin

    # --- scoring ------------------------------------------------------------------------------------
    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        head, graph = self.score_parts(users)
        return head + graph

    @torch.no_grad()
    def score_parts(self, users: np.ndarray, weights: tuple[float, ...] | None = None) -> tuple[np.ndarray, ...]:
        """The head's scores (n, n_items) and the graph's term (:mod:`igcore.pipeline.scored_graph`; zeros
        without it): ``score`` is their sum. Given ``weights``, the graph's term at each of them instead."""
        q, stage = self.queries(np.asarray(users)), self.scored_graph
        head = InterestExtractor.scores(q.query, q.interests, self._item_tables().table).float().cpu().numpy()
        weights = weights or (stage.weight if stage is not None else 0.0,)
        if stage is None or not any(weights):
            return head, *(np.zeros_like(head) for _ in weights)
        graph, latest = stage.built(self.state, self.n_items), stage.latest(self.state.items, users)
        return head, *(stage.term(head, graph, latest, w) for w in weights)

    def graph_links(self, user: int, item: int, n: int = 3) -> list[tuple[int, float]]:
        """The user's latest items that add most to ``item``'s graph score (:func:`linked_by`), with what each
        adds before the graph's weighting; none without the graph at the score or at weight 0."""
        stage = self.scored_graph
        if stage is None or not stage.weight:
            return []
        graph = stage.built(self.state, self.n_items)
        return linked_by(graph, stage.latest(self.state.items, np.array([user]))[0], item, stage.decay, n)

    def recommend(self, user: int, k: int = 10, at: int | None = None) -> np.ndarray:
        return top_k(self.score(np.array([user]), at), k)[0]

    @torch.no_grad()
    def source_weights(self, users: np.ndarray) -> np.ndarray:
        """The decoder's gate: how much each source (sequence, graph, memory) shapes each user's interest."""
        return self.queries(np.asarray(users)).sources.cpu().numpy()

    @torch.no_grad()
    def interest_state(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Each user's interest queries (n, K, d) and weights (n, K) now, or None without interests."""
        q = self.queries(np.asarray(users))
        if q.interests is None:
            return None
        return q.interests.float().cpu().numpy(), q.interest_weights.float().cpu().numpy()

    @torch.no_grad()
    def interest_tracks(self, users: list[int], chunk: int = 256) -> list[InterestTrack] | None:
        """Each user's interests after each of their events in the current online state (every event gets its
        state from a window with at least half the maximum length of context: :func:`track_windows`), or None
        without interests. The last position of a track is what :meth:`interest_state` returns."""
        if self.net.interests is None:
            return None
        self.net.eval()
        table, max_len = self._item_tables().table, self.cfg.max_len
        jobs = [(r, end, lo) for r, u in enumerate(users) for lo, end in track_windows(len(self.state.items[u]),
                                                                                       max_len)]
        k, d = self.cfg.interests, self.cfg.dim
        parts: list[list[tuple[np.ndarray, ...]]] = [[] for _ in users]  # windows come in event order
        for start in range(0, len(jobs), chunk):
            part = jobs[start:start + chunk]
            batch = windows(self.state, [users[r] for r, _, _ in part], max_len, self.cfg.gap_buckets,
                            ends=[end for _, end, _ in part]).batch(slice(None), self.device)
            real = batch.items > 0
            states = self.net.seq(table, batch.items, batch.types, batch.gaps)
            found = (*self.net.interest_queries(states, real), self.net.interests.routes(states, real))
            for i, (r, end, lo) in enumerate(part):  # keep events lo..end-1: the last end - lo columns
                parts[r].append(tuple(x[i, x.shape[1] - (end - lo):].float().cpu().numpy() for x in found))
        out = []
        for r, u in enumerate(users):
            vectors, weights, routes = (np.concatenate([p[i] for p in parts[r]]) if parts[r] else
                                        np.zeros((0, *shape), dtype=np.float32)
                                        for i, shape in enumerate(((k, d), (k,), (k,))))
            out.append(InterestTrack(np.asarray(self.state.items[u], dtype=np.int64),
                                     np.asarray(self.state.types[u], dtype=np.int64),
                                     np.asarray(self.state.times[u], dtype=np.float64), vectors, weights, routes))
        return out

    @torch.no_grad()
    def item_vectors(self) -> np.ndarray:
        return self._item_tables().table[1:].cpu().numpy()

    def serving_state(self, key: str, since: ServingState | None = None, users: np.ndarray | None = None,
                      tables_changed: bool = False, chunk: int = 2048) -> ServingState:
        """What :func:`igcore.pipeline.serve.serving_state` makes of this model in its current online state."""
        return serving_state(self, key, since, users, tables_changed, chunk)

    def validation_ndcg(self, valid: Interactions) -> float:
        """NDCG@10 of ``valid``'s items in the current weights (the item table is recomputed around it)."""
        self.forget_tables()
        score = validation_ndcg(self.score, self.state.items, valid.user, valid.item, self.cfg.valid_exclude_seen,
                                self.n_items)
        self.forget_tables()
        return score

    def _forget_graph(self) -> None:
        """The events changed: the GNN re-runs, or the graph at the score is rebuilt, when next read."""
        if self.scored_graph is not None:
            self.scored_graph = dataclasses.replace(self.scored_graph, graph=None)  # a fork's own, not its parent's
        else:
            self._graph_due = True

    def forget_tables(self) -> None:
        """Drop the cached item table, graph vectors and memory message inputs (the weights or the graph
        changed)."""
        self._tables, self._inputs = None, None

    # --- helpers ------------------------------------------------------------------------------------
    @torch.no_grad()
    def _message_inputs(self) -> MessageInputs | None:
        """The memory's message inputs under the current weights (the online state's ``features``; a fork's
        state calls its parent's, so forks share them): computed from the item table's vectors at the first
        update after the table is, not by every read of the table (scoring needs none)."""
        table = self._base_table()
        if self._inputs is None and self.memory is not None:
            self._inputs = self.memory.message_inputs(table)
        return self._inputs

    def _keep_tables(self, tables: ItemTables, refresh: bool = False) -> None:
        """Cache ``tables``; the message inputs of their item vectors are computed again when next needed,
        except through a graph ``refresh`` (which does not change the item encoder's vectors: no weight moved)."""
        self._tables = tables
        if not refresh:
            self._inputs = None

    def _item_tables(self) -> ItemTables:
        if self._tables is None or self._graph_due:
            self.net.eval()
            graph = graph_operator(self.state.edges, self.n_users, self.n_items, self.cfg.gnn, self.device,
                                   self.cfg.graph_edges) if self.cfg.use_graph else None
            self._keep_tables(self.net.item_table(graph), refresh=self._tables is not None)
            self._graph_due = False
        return self._tables

    def _base_table(self) -> torch.Tensor:
        """The item encoder's vectors, which the graph does not change: reading them does not run the GNN (a
        replay or a stream of updates reads them for every batch of memory messages)."""
        if self._tables is None:
            self.net.eval()
            base = self.net.items()
            self._keep_tables(ItemTables(base, base, None))
            self._graph_due = True
        return self._tables.base

    def queries(self, users: np.ndarray, hidden: torch.Tensor | None = None) -> Queries:
        """What the network makes of ``users`` in the current online state (:class:`Queries`); given their
        sequence states ``hidden``, only the fusion and the head run (no interests then)."""
        self.net.eval()
        items, _, graph_user = self._item_tables()
        interests = None
        if hidden is not None:
            hidden = hidden.to(self.device)
        else:
            batch = windows(self.state, users.tolist(), self.cfg.max_len, self.cfg.gap_buckets).batch(
                slice(None), self.device)
            if self.net.interests is None:
                hidden = self.net.seq.last_state(items, batch.items, batch.types, batch.gaps)
            else:
                states = self.net.seq(items, batch.items, batch.types, batch.gaps)
                hidden, interests = states[:, -1], self.net.interest_queries(states, batch.items > 0, last=True)
        u = torch.as_tensor(users, device=self.device)
        memory = self.memory.user_memory(u) if self.memory is not None else None
        interest, weights = self.net.fusion(hidden, graph_user[u] if graph_user is not None else None, memory)
        if interests is None:
            return Queries(self.net.head(interest), weights, hidden)
        return Queries(self.net.head(interest), weights, hidden, interests[0][:, -1], interests[1][:, -1])


@dataclasses.dataclass(frozen=True)
class Queries:
    """Users' scoring queries (n, d), source weights (n, S) and sequence states (n, d); with interests, the
    interest queries (n, K, d) and weights (n, K) too."""

    query: torch.Tensor
    sources: torch.Tensor
    hidden: torch.Tensor  # (n, d) the sequence state the query was fused from
    interests: torch.Tensor | None = None
    interest_weights: torch.Tensor | None = None
