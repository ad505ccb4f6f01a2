"""The pipeline's training loop: next-item prediction with full-softmax cross-entropy over each user's recent items.

No position is trained with a source that already contains its target:
- the graph: :mod:`igcore.pipeline.graphs` gives each position the graph it may read;
- the TGN memory enters at EVERY position: the training log is replayed in time order, and each position
  reads its user's memory after the user's previous event, that update recomputed with gradients
  (:mod:`igcore.pipeline.replay`), so the memory's modules train with the network.
  The replay runs at the end of each epoch, under the weights the epoch ended with: validation then reads the
  memory the model would serve with those weights (the one a rebuilt state holds), and the next epoch trains on it.
Epochs run until validation stops improving (:func:`igcore.pipeline.training.fit_with_early_stopping`).
Data-parallel workers (:mod:`igcore.pipeline.workers`) each train their own users' rows and agree on the rest.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from igcore.decode.interests import InterestExtractor
from igcore.errors import IgcoreError
from igcore.events import Interactions
from igcore.pipeline.config import PipelineConfig
from igcore.pipeline.graphs import TrainingGraph, training_graph
from igcore.pipeline.net import IgcoreNet
from igcore.pipeline.replay import MemoryReplay
from igcore.pipeline.samples import resolve_samples
from igcore.pipeline.training import fit_with_early_stopping, length_batches, validation_ndcgs
from igcore.pipeline.windows import WindowBatch, training_rows
from igcore.pipeline.workers import ALONE, Workers
from igcore.progress import Progress
from igcore.update.memory import InterestMemory

if TYPE_CHECKING:
    from igcore.pipeline.model import IgcoreRecommender


def train_network(model: IgcoreRecommender, train: Interactions, valid: Interactions | None,
                  rng: np.random.Generator, progress: Progress, workers: Workers = ALONE) -> None:
    """Train ``model.net`` on ``train`` (the model's online state holds ``train``'s histories and a fresh
    memory); leaves the best epoch's weights and the graph of every training event in the state. Among
    data-parallel ``workers``, this one trains the rows of its own users and validates on its own users."""
    cfg, net, state, device = model.cfg, model.net, model.state, model.device
    graph = training_graph(cfg, train, device)
    state.edges = [(train.user, train.item)]  # validation reads the graph of every training event
    replay = MemoryReplay(net, state, train) if state.memory is not None else None
    model.samples = resolve_samples(cfg.samples, train, cfg.max_len, cfg.prefix_limit)
    if not net.seq.causal and model.samples != "prefixes":
        raise IgcoreError(f"seq_mixer={cfg.seq_mixer} reads the whole window, so it trains on prefixes only "
                          f"(samples=prefixes); this log trains on {model.samples}")
    rows = training_rows(train, cfg.max_len, cfg.gap_buckets, model.samples == "prefixes").of_users(workers.owns)
    step = workers.wrap(TrainingStep(net, state.memory if replay is not None else None))
    # sparse id gradients on one process only: DistributedDataParallel averages dense ones
    sparse = compact_rows(cfg, net.n_items, graph) and not workers.parallel
    net.items.sparse_ids = sparse
    opt = optimiser(net, step, cfg.lr, sparse)
    # graph user vectors enter at a user's last training target only: its rows batched apart, the other
    # batches (most rows, when training on prefixes) skip the GNN; final_apart batches them so without a graph
    apart = rows.final if (graph is not None and not graph.on_items) or cfg.final_apart else None

    def replay_memory() -> None:
        progress("memory", 0, len(train), {})
        replay.replay()
        progress("memory", len(train), len(train), {})

    def run_epoch(epoch: int) -> float:
        if replay is not None and replay.trace is None:
            replay_memory()  # the first epoch's; each later one's is the replay that ended the epoch before
        total, n, trained[epoch] = 0.0, 0, 0
        with workers.uneven(step):
            for idx in length_batches(rows.lengths, cfg.batch_size, rng, apart):
                if n and time.perf_counter() - started > cfg.max_train_s:
                    break  # the budget ends inside an epoch on a large log (the caller then stops training)
                loss = step(rows.batch(idx, device), graph, replay)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total, n = total + loss.item() * len(idx), n + len(idx)
                trained[epoch] += rows.positions_in(idx)
        if replay is not None:  # under the epoch's new weights: the memory validation reads, as served
            replay_memory()
        return workers.mean(total / max(n, 1), n)

    model.forget_tables()
    own = valid.subset(workers.owns(valid.user)) if valid is not None else None
    validate = None
    if valid is not None and workers.total(len(own)) > 0:
        validate = lambda: workers.mean(model.validation_ndcg(own) if len(own) else 0.0, len(own))  # noqa: E731
    trained: dict[int, int] = {}  # positions each epoch trained: fewer than all when the budget cut it
    started = time.perf_counter()  # the clock of fit_with_early_stopping's own cap, checked between batches too
    # the step holds the network and the memory's modules: the best epoch's weights of both are kept
    fit_with_early_stopping(step, run_epoch, validate, cfg.epochs, cfg.eval_every, cfg.patience, cfg.max_train_s,
                            model.log, on_epoch=lambda e: progress("train", e["epoch"], cfg.epochs, e),
                            positions=workers.total(rows.positions), agree=workers.any)
    model.forget_tables()  # the best epoch's weights are back: nothing cached from the last epoch's is read
    choose_graph_weight(model, own if validate is not None else None, workers)
    if model.log:  # every worker takes part in the sum
        last = model.log[-1]
        done = workers.total(trained.get(last["epoch"], rows.positions))
        if done < last["positions"]:
            last.update(positions=done, cut=True, epoch_positions=last["positions"])


def choose_graph_weight(model: IgcoreRecommender, valid: Interactions | None, workers: Workers) -> None:
    """The weight of the graph at the score (:meth:`igcore.pipeline.scored_graph.ScoredGraph.choose`), on this
    worker's ``valid`` users, its NDCG@10 at each weight averaged over the workers so that all choose alike."""
    stage = model.scored_graph
    if stage is None:
        return

    def ndcgs(weights: tuple[float, ...]) -> list[float]:
        def scored(users: np.ndarray) -> list[np.ndarray]:
            head, *terms = model.score_parts(users, weights)
            return [head + term for term in terms]

        found = validation_ndcgs(scored, model.state.items, valid.user, valid.item, model.cfg.valid_exclude_seen,
                                 model.n_items) if len(valid) else [0.0] * len(weights)
        return [workers.mean(x, len(valid)) for x in found]

    model.graph_choice = stage.choose(model.cfg.graph_weight, ndcgs if valid is not None else None)


class TrainingStep(nn.Module):
    """One batch's loss as a module over everything it trains (the network and, when it learns, the TGN
    memory's modules), so that DistributedDataParallel can average its gradients across workers."""

    def __init__(self, net: IgcoreNet, memory: InterestMemory | None) -> None:
        super().__init__()
        self.net, self.memory = net, memory

    def forward(self, batch: WindowBatch, graph: TrainingGraph | None, replay: MemoryReplay | None) -> torch.Tensor:
        return batch_loss(self.net, batch, graph, replay)


def batch_loss(net: IgcoreNet, batch: WindowBatch, graph: TrainingGraph | None,
               replay: MemoryReplay | None) -> torch.Tensor:
    """Mean cross-entropy of every real position's next item over the full catalogue (or against the
    ``negatives`` items drawn for the batch), each position scored against the item table of the graph it may
    read. Drawing negatives without a graph, only the item rows the batch reads are computed."""
    drawn, renumber = None, None
    if net.cfg.negatives and net.cfg.negatives < net.n_items:
        drawn = torch.randint(1, net.n_items + 1, (net.cfg.negatives,), device=batch.items.device)
    if graph is not None and graph.on_items:
        base = net.items()
        tables = torch.stack([net.propagate(base, g) for g in graph.operators])  # (slices, n_items + 1, d)
        slices = graph.slice_of_event[batch.target_events.cpu()].to(base.device)
        seq_items, graph_user = tables[slices, batch.items], None
    else:
        rows = rows_read(batch, drawn, replay) if compact_rows(net.cfg, net.n_items, graph) else None
        if graph is not None and batch.final is not None and not batch.final.any():
            graph = None  # no row reads the graph user vectors: the GNN's work is skipped
        if rows is not None:  # the batch's items renumbered into the compact table of the rows it reads
            renumber = torch.zeros(net.n_items + 1, dtype=torch.long, device=rows.device)
            renumber[rows] = torch.arange(1, len(rows) + 1, device=rows.device)
            batch = dataclasses.replace(batch, items=renumber[batch.items], targets=renumber[batch.targets])
            drawn = renumber[drawn]
        # the graph user vectors enter at the last position of a user's last training target only
        final = batch.final if batch.final is not None else np.ones(len(batch.users), dtype=bool)
        final_users = torch.as_tensor(batch.users[final], device=batch.items.device)
        table, base, graph_user = net.item_table(graph.operators[0] if graph is not None else None, rows,
                                                 final_users)
        tables, slices, seq_items = table[None], torch.zeros_like(batch.items), table
    hidden = net.seq(seq_items, batch.items, batch.types, batch.gaps)
    real = batch.targets > 0  # the sources are read and fused at these positions only (on prefixes, the last)
    graph_source = None
    if graph_user is not None:
        graph_source = torch.zeros_like(hidden)
        graph_source[torch.as_tensor(np.flatnonzero(final), device=hidden.device), -1] = graph_user
        graph_source = graph_source[real]
    memory = replay.before(batch.target_events[real], base, renumber) if replay is not None else None
    interest, _ = net.fusion(hidden[real], graph_source, memory)
    targets, own = batch.targets[real], slices[real]
    query = net.head(interest)
    interests = net.interest_queries(hidden, batch.items > 0)
    penalty = 0.0
    if interests is not None:  # the interest that matches each target best (ComiRec's rule)
        query = query + InterestExtractor.best_for(interests[0][real], tables[own, targets].detach())
        if net.cfg.interest_diversity > 0:
            penalty = net.cfg.interest_diversity * InterestExtractor.overlap(interests[0][real])
    if drawn is not None:
        return sampled_loss(query, tables, own, targets, drawn) + penalty
    if len(tables) == 1:
        logits = net.head.scores(query, tables[0])
    else:
        logits = query.new_zeros(len(query), tables.shape[1] - 1)
        for s in own.unique().tolist():
            rows = own == s
            logits[rows] = net.head.scores(query[rows], tables[s])
    return nn.functional.cross_entropy(logits, targets - 1) + penalty


def compact_rows(cfg: PipelineConfig, n_items: int, graph: TrainingGraph | None) -> bool:
    """Whether a batch scores against drawn negatives without a graph, and so reads a compact item table of the
    rows it needs (:func:`rows_read`) whose id vectors get sparse gradients (:class:`ItemEncoder`)."""
    return bool(cfg.negatives) and cfg.negatives < n_items and graph is None


def optimiser(net: IgcoreNet, step: nn.Module, lr: float, sparse_ids: bool) -> Optimiser:
    """Adam over the step's parameters; with ``sparse_ids`` (batches read compact item tables), the item id
    table apart under SparseAdam, which moves only the rows a batch read (lazy Adam): a step then costs those
    rows, not the whole catalogue's table, its gradient and its moments."""
    ids = net.items.item_id.weight
    dense = [p for p in step.parameters() if not (sparse_ids and p is ids)]
    return Optimiser([torch.optim.Adam(dense, lr=lr), *([torch.optim.SparseAdam([ids], lr=lr)] if sparse_ids else [])])


class Optimiser:
    """Optimisers over disjoint parameters, stepped together."""

    def __init__(self, parts: list[torch.optim.Optimizer]) -> None:
        self.parts = parts

    def zero_grad(self) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=True)

    def step(self) -> None:
        for part in self.parts:
            part.step()


def rows_read(batch: WindowBatch, drawn: torch.Tensor, replay: MemoryReplay | None) -> torch.Tensor:
    """The 1-based item rows a batch scored against ``drawn`` negatives reads: its inputs, its targets, the
    drawn items and the items of the events its memory step redoes."""
    parts = [batch.items.flatten(), batch.targets.flatten(), drawn]
    if replay is not None:
        parts.append(replay.item_rows(batch.target_events).to(drawn.device))
    rows = torch.cat(parts).unique()
    return rows[rows > 0]


def sampled_loss(query: torch.Tensor, tables: torch.Tensor, own: torch.Tensor, targets: torch.Tensor,
                 drawn: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each position's target against the items ``drawn`` uniformly for the batch (shared by
    its positions; a draw that is the position's own target is left out): a large catalogue's cost per position
    then stays that of the drawn items instead of the whole catalogue."""
    positive = (query * tables[own, targets]).sum(-1, keepdim=True)
    against = query.new_zeros(len(query), len(drawn))
    for s in own.unique().tolist():
        rows = own == s
        against[rows] = query[rows] @ tables[s, drawn].T
    against = against.masked_fill(drawn[None] == targets[:, None], float("-inf"))
    logits = torch.cat([positive, against], dim=1)
    return nn.functional.cross_entropy(logits, torch.zeros(len(query), dtype=torch.long, device=query.device))
