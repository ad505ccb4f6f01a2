"""The pipeline as a :class:`Recommender`: fit, online update, score, recommend.

Training is next-item prediction with full-softmax cross-entropy over each user's recent items, and no
position is trained with a source that already contains its target. The TGN memory enters at EVERY position:
the training log is replayed once in time order, and each position reads its user's memory as it was before
the batch of the event it predicts. The graph user vector enters only at each user's LAST training position,
built from the graph without each user's last training event (earlier positions would find their targets in
it); earlier positions see a zero graph source.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings

import numpy as np
import torch
from torch import nn
from torch_geometric.utils import to_torch_csr_tensor

from igcore.evaluate.data import Interactions
from igcore.evaluate.metrics import top_k
from igcore.graph.gnn import bipartite_edge_index
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.net import IgcoreNet
from igcore.pipeline.serving import ServingState
from igcore.progress import Progress, no_progress
from igcore.temporal.memory import InterestMemory
from igcore.training import SeededModel, fit_with_early_stopping, length_batches, validation_ndcg

MAX_ATTRS = 8
MEMORY_STATE = {"memory", "last_update", "_assoc"}  # replayed from events, not saved


@dataclasses.dataclass
class SideInfo:
    """What the catalogue knows about items, by item id: text vectors and attribute tokens."""

    text: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    attrs: dict[str, list[str]] = dataclasses.field(default_factory=dict)


class IgcoreRecommender(SeededModel):
    config_class = PipelineConfig

    def __init__(self, config: PipelineConfig | None = None, side: SideInfo | None = None, **overrides) -> None:
        super().__init__(config, **overrides)
        self.name = self.cfg.name()
        self.side = side or SideInfo()

    # --- fit ----------------------------------------------------------------------------------------
    def fit(self, train: Interactions, valid: Interactions | None = None, progress: Progress = no_progress,
            final_state: bool = True) -> None:
        """Train; then (``final_state``) rebuild the online state from ``train``. A caller that rebuilds it
        from a larger log right after (:func:`igcore.pipeline.run.train`) skips that replay."""
        cfg = self.cfg
        rng = self._seed()
        self.n_users, self.n_items, self.item_ids = train.n_users, train.n_items, train.item_ids
        self._set_histories(train)
        text = self._text_matrix() if cfg.use_text else None
        attrs, n_attrs = self._attr_matrix()
        self.net = IgcoreNet(cfg, self.n_users, self.n_items, max(len(train.type_names), 1), text, attrs,
                             n_attrs).to(self.device)
        # The graph before each user's last training event: the graph source of the last position. Then the
        # last events join the graph, so validation sees the whole training log.
        pos, counts = train.positions_in_user(), np.bincount(train.user, minlength=self.n_users)
        last = pos == counts[train.user] - 1
        self.edges = [(train.user[~last], train.item[~last])]
        graph_prev = self._graph()
        self.edges = [(train.user, train.item)]
        self.memory = InterestMemory(self.n_users, self.n_items, cfg.memory_dim, cfg.time_dim) \
            if cfg.use_temporal else None
        progress("memory", 0, len(train), {})
        snapshots = None  # each training event's user memory before it
        if self.memory is not None:
            self.memory.reset_state()
            snapshots = self._observe(train).to(self.device)
        progress("memory", len(train), len(train), {})
        windows = self._training_windows(train)
        opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)

        def run_epoch(epoch: int) -> float:
            total, n = 0.0, 0
            for idx in length_batches(windows["lengths"], cfg.batch_size, rng):
                loss = self._batch_loss(windows, idx, graph_prev, snapshots)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, n = total + loss.item() * len(idx), n + len(idx)
            return total / max(n, 1)

        self._cache = None
        validate = (lambda: self._valid_ndcg(valid)) if valid is not None and len(valid) else None
        fit_with_early_stopping(self.net, run_epoch, validate, cfg.epochs, cfg.eval_every, cfg.patience,
                                cfg.max_train_s, self.log,
                                on_epoch=lambda e: progress("train", e["epoch"], cfg.epochs, e))
        if final_state:
            self.rebuild_state(train)

    def rebuild_state(self, events: Interactions) -> None:
        """The canonical online state for a log: histories, graph and memory replayed in time order in
        ``memory_batch`` chunks. A restored checkpoint rebuilds the same way, so its scores are identical."""
        self._set_histories(events)
        self.edges = [(events.user, events.item)]
        if self.memory is not None:
            self.memory.reset_state()
            self._observe(events)
        self._cache, self._pending = None, 0

    def restore(self, events: Interactions, weights: dict[str, torch.Tensor]) -> None:
        """Rebuild a trained model from its weights and the events it should know (no training)."""
        self.n_users, self.n_items, self.item_ids = events.n_users, events.n_items, events.item_ids
        text, attrs = weights.get("net.text"), weights.get("net.attrs")
        n_attrs = weights["net.attr_bag.weight"].shape[0] - 1 if attrs is not None else 0
        self.net = IgcoreNet(self.cfg, self.n_users, self.n_items, max(len(events.type_names), 1), text, attrs,
                             n_attrs).to(self.device)
        self.net.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("net.")})
        self.net.eval()
        self.memory = InterestMemory(self.n_users, self.n_items, self.cfg.memory_dim, self.cfg.time_dim) \
            if self.cfg.use_temporal else None
        if self.memory is not None:
            own = {k[7:]: v for k, v in weights.items() if k.startswith("memory.")}
            self.memory.load_state_dict({**self.memory.state_dict(), **own})
        self.rebuild_state(events)

    def weights(self) -> dict[str, torch.Tensor]:
        """Everything learned or drawn at random (net, memory modules); not the replayable memory state."""
        out = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        if self.memory is not None:
            out.update({f"memory.{k}": v for k, v in self.memory.state_dict().items()
                        if k.split(".")[-1] not in MEMORY_STATE})
        return {k: v.detach().cpu().contiguous() for k, v in out.items()}

    def _batch_loss(self, w: dict, idx: np.ndarray, graph_prev, snapshots) -> torch.Tensor:
        width = int(w["lengths"][idx].max())
        t = lambda a: torch.as_tensor(a[idx, -width:], device=self.device)  # noqa: E731
        seq, types, gaps, tgt = t(w["items"]), t(w["types"]), t(w["gaps"]), t(w["targets"])
        items, graph_user = self.net.item_table(graph_prev)
        hidden = self.net.sequence(items, seq, types, gaps)
        graph = None
        if graph_user is not None:  # the last position only
            graph = torch.zeros_like(hidden)
            graph[:, -1] = graph_user[torch.as_tensor(w["users"][idx], device=self.device)]
        memory = snapshots[t(w["target_events"])] if snapshots is not None else None
        interest, _ = self.net.fuse(hidden, graph, memory)
        real = tgt > 0
        return nn.functional.cross_entropy(self.net.scores(self.net.query(interest[real]), items), tgt[real] - 1)

    # --- online -------------------------------------------------------------------------------------
    def update(self, events: Interactions) -> None:
        """Append to histories, add graph edges, advance TGN memory: no gradient step. Sequences and memory
        reflect every event at once; the GNN re-runs over the grown graph every ``graph_refresh`` events, so
        one event costs time for its own user, not a pass over the whole graph."""
        self._append(events)
        self.edges.append((events.user, events.item))
        if self.memory is not None:
            self._observe(events)
        self._pending += len(events)
        if self._pending >= self.cfg.graph_refresh:
            self._cache, self._pending = None, 0

    def fork(self, users: np.ndarray) -> IgcoreRecommender:
        """A copy whose online state can move on alone ("what if" questions) for events of ``users``: it
        shares the learned weights (only read) and copies what ``update`` writes: those users' histories, the
        edge list and the memory's state. A few milliseconds, where a deep copy takes seconds."""
        twin = copy.copy(self)
        for name in ("items", "types", "times"):
            lists = list(getattr(self, name))
            for u in np.unique(users).tolist():
                lists[u] = list(lists[u])
            setattr(twin, name, lists)
        twin.edges = list(self.edges)
        if self.memory is not None:
            twin.memory = self.memory.fork()
        return twin

    @torch.no_grad()
    def score(self, users: np.ndarray, at: int | None = None) -> np.ndarray:
        queries, items, _ = self._queries(np.asarray(users))
        return self.net.scores(queries, items).float().cpu().numpy()

    def recommend(self, user: int, k: int = 10, at: int | None = None) -> np.ndarray:
        return top_k(self.score(np.array([user]), at), k)[0]

    @torch.no_grad()
    def source_weights(self, users: np.ndarray) -> np.ndarray:
        """The decoder's gate: how much each source (sequence, graph, memory) shapes each user's interest."""
        return self._queries(np.asarray(users))[2].cpu().numpy()

    @torch.no_grad()
    def item_vectors(self) -> np.ndarray:
        return self._state()[0][1:].cpu().numpy()

    @torch.no_grad()
    def serving_state(self, key: str, chunk: int = 2048) -> ServingState:
        """Every user's query vector and source weights and the item table in the current online state, to
        score without the network while the events stay as they are (:mod:`igcore.pipeline.serving`)."""
        parts = [self._queries(np.arange(lo, min(lo + chunk, self.n_users))) for lo in range(0, self.n_users, chunk)]
        queries = torch.cat([q for q, _, _ in parts]) if parts else torch.zeros(0, self.cfg.dim)
        sources = torch.cat([w for _, _, w in parts]) if parts else torch.zeros(0, self.net.n_sources)
        arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in
                  (queries.cpu().numpy(), sources.cpu().numpy(), self.item_vectors())]
        return ServingState(*arrays, key)

    # --- helpers ------------------------------------------------------------------------------------
    def _state(self):
        if self._cache is None:
            self.net.eval()
            self._cache = self.net.item_table(self._graph())
        return self._cache

    def _queries(self, users: np.ndarray):
        self.net.eval()
        items, graph_user = self._state()
        w = self._windows(users.tolist(), with_targets=False)
        width = max(int(w["lengths"].max()), 1)
        t = lambda a: torch.as_tensor(a[:, -width:], device=self.device)  # noqa: E731
        hidden = self.net.last_state(items, t(w["items"]), t(w["types"]), t(w["gaps"]))
        u = torch.as_tensor(users, device=self.device)
        memory = self.memory.user_memory(u.cpu()).to(self.device) if self.memory is not None else None
        interest, weights = self.net.fuse(hidden, graph_user[u] if graph_user is not None else None, memory)
        return self.net.query(interest), items, weights

    def _set_histories(self, events: Interactions) -> None:
        self.items: list[list[int]] = [[] for _ in range(self.n_users)]
        self.types: list[list[int]] = [[] for _ in range(self.n_users)]
        self.times: list[list[int]] = [[] for _ in range(self.n_users)]
        self._append(events)

    def _append(self, events: Interactions) -> None:
        for u, i, e, ts in zip(events.user.tolist(), events.item.tolist(), events.event_type.tolist(),
                               events.ts.tolist()):
            self.items[u].append(i)
            self.types[u].append(e)
            self.times[u].append(ts)

    def _observe(self, events: Interactions) -> torch.Tensor:
        """Advance memory over ``events`` in ``memory_batch`` chunks; each event's user memory before it."""
        step = self.cfg.memory_batch
        before = [self.memory.observe(torch.as_tensor(events.user[start:start + step]),
                                      torch.as_tensor(events.item[start:start + step]),
                                      torch.as_tensor(events.ts[start:start + step]))
                  for start in range(0, len(events), step)]
        return torch.cat(before) if before else torch.zeros(0, self.cfg.memory_dim)

    def _graph(self) -> torch.Tensor | None:
        if not self.cfg.use_graph:
            return None
        users = torch.as_tensor(np.concatenate([u for u, _ in self.edges]), dtype=torch.long)
        items = torch.as_tensor(np.concatenate([i for _, i in self.edges]), dtype=torch.long)
        edge_index = bipartite_edge_index(users, items, self.n_users)
        if self.cfg.gnn == "gat":
            return edge_index.to(self.device)
        n = self.n_users + self.n_items
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notice that sparse CSR support is in beta
            return to_torch_csr_tensor(edge_index, size=(n, n)).to(self.device)

    def _text_matrix(self) -> torch.Tensor | None:
        rows = [(i, self.side.text[item]) for i, item in enumerate(self.item_ids) if item in self.side.text]
        if not rows:
            return None
        out = torch.zeros(self.n_items + 1, len(rows[0][1]))
        for i, vec in rows:
            out[i + 1] = torch.as_tensor(vec)
        return out

    def _attr_matrix(self) -> tuple[torch.Tensor | None, int]:
        vocab: dict[str, int] = {}
        out = np.zeros((self.n_items + 1, MAX_ATTRS), dtype=np.int64)
        for i, item in enumerate(self.item_ids):
            for j, token in enumerate(self.side.attrs.get(item, [])[:MAX_ATTRS]):
                out[i + 1, j] = vocab.setdefault(token, len(vocab) + 1)
        return (torch.as_tensor(out), len(vocab)) if vocab else (None, 0)

    def _training_windows(self, train: Interactions) -> dict:
        """The windows of every user with a target, and each target's index in ``train`` (the histories are
        ``train`` in order), by which a position finds its memory snapshot."""
        users = [u for u in range(self.n_users) if len(self.items[u]) >= 2]
        w = self._windows(users, with_targets=True)
        by_user = np.argsort(train.user, kind="stable")
        starts = np.concatenate([[0], np.cumsum(np.bincount(train.user, minlength=self.n_users))])
        w["target_events"] = np.zeros_like(w["targets"])
        for r, u in enumerate(users):
            k = int(w["lengths"][r])
            w["target_events"][r, -k:] = by_user[starts[u + 1] - k:starts[u + 1]]
        return w

    def _windows(self, users: list[int], with_targets: bool) -> dict:
        """Left-padded (1-based) items, types, gap buckets of each user's last max_len events; with targets,
        inputs are events[:-1] and targets events[1:]."""
        length, out = self.cfg.max_len, {}
        shape = (len(users), length)
        for key in ("items", "types", "gaps", "targets"):
            out[key] = np.zeros(shape, dtype=np.int64)
        for r, u in enumerate(users):
            items, types, gaps = self.items[u], self.types[u], _gap_buckets(self.times[u], self.cfg.gap_buckets)
            n = len(items) - 1 if with_targets else len(items)
            lo = max(0, n - length)
            k = n - lo
            if k <= 0:
                continue
            out["items"][r, -k:] = np.asarray(items[lo:n]) + 1
            out["types"][r, -k:] = np.asarray(types[lo:n]) + 1
            out["gaps"][r, -k:] = gaps[lo:n]
            if with_targets:
                out["targets"][r, -k:] = np.asarray(items[lo + 1:n + 1]) + 1
        out["lengths"] = (out["items"] > 0).sum(axis=1)
        out["users"] = np.asarray(users, dtype=np.int64)
        return out

    def _valid_ndcg(self, valid: Interactions) -> float:
        self._cache = None  # the item table changes as training goes on
        score = validation_ndcg(self.score, self.items, valid.user, valid.item, self.cfg.valid_exclude_seen)
        self._cache = None
        return score


def _gap_buckets(times: list[int], buckets: int) -> np.ndarray:
    """Bucket of the time since the previous event: 1 + log2(1 + seconds) / 2, capped; the first event of a
    history (no previous one) gets the last bucket."""
    out = np.full(len(times), buckets, dtype=np.int64)
    if len(times) > 1:
        gaps = np.maximum(np.diff(np.asarray(times, dtype=np.float64)), 0.0)
        out[1:] = 1 + np.minimum(buckets - 2, (np.log2(1.0 + gaps) / 2).astype(np.int64))
    return out


