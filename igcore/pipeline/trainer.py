"""The pipeline's training loop: next-item prediction with full-softmax cross-entropy over each user's recent items.

No position is trained with a source that already contains its target:
- the TGN memory enters at EVERY position: each epoch replays the training log in time order, and each position
  reads its user's memory as it was before the batch of the event it predicts, its last update recomputed with
  gradients (:mod:`igcore.pipeline.replay`), so the memory's modules train with the network;
- the graph user vector enters only at each user's LAST training position, built from the graph without each
  user's last training event (earlier positions would find their targets in it); earlier positions see a zero
  graph source.
Epochs run until validation stops improving (:func:`igcore.pipeline.training.fit_with_early_stopping`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from igcore.decode.interests import InterestExtractor
from igcore.embed.graph import graph_operator
from igcore.events import Interactions
from igcore.pipeline.net import IgcoreNet
from igcore.pipeline.replay import MemoryReplay
from igcore.pipeline.training import fit_with_early_stopping, length_batches
from igcore.pipeline.windows import WindowBatch, training_windows
from igcore.progress import Progress

if TYPE_CHECKING:
    from igcore.pipeline.model import IgcoreRecommender


def train_network(model: IgcoreRecommender, train: Interactions, valid: Interactions | None,
                  rng: np.random.Generator, progress: Progress) -> None:
    """Train ``model.net`` on ``train`` (the model's online state holds ``train``'s histories and a fresh
    memory); leaves the best epoch's weights and the graph of every training event in the state."""
    cfg, net, state, device = model.cfg, model.net, model.state, model.device
    # The graph before each user's last training event: the graph source of the last position. Then the last
    # events join the graph, so validation sees the whole training log.
    pos, counts = train.positions_in_user(), np.bincount(train.user, minlength=train.n_users)
    last = pos == counts[train.user] - 1
    graph_prev = graph_operator([(train.user[~last], train.item[~last])], train.n_users, train.n_items, cfg.gnn,
                                device) if cfg.use_graph else None
    state.edges = [(train.user, train.item)]
    replay = MemoryReplay(net, state, train) if state.memory is not None else None
    windows = training_windows(state, train, cfg.max_len, cfg.gap_buckets)
    params = list(net.parameters()) + (list(state.memory.parameters()) if replay is not None else [])
    opt = torch.optim.Adam(params, lr=cfg.lr)

    def run_epoch(epoch: int) -> float:
        if replay is not None:
            progress("memory", 0, len(train), {})
            replay.replay()
            progress("memory", len(train), len(train), {})
        total, n = 0.0, 0
        for idx in length_batches(windows.lengths, cfg.batch_size, rng):
            loss = batch_loss(net, windows.batch(idx, device), graph_prev, replay)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(idx), n + len(idx)
        return total / max(n, 1)

    model.forget_tables()
    validate = (lambda: model.validation_ndcg(valid)) if valid is not None and len(valid) else None
    fit_with_early_stopping(net, run_epoch, validate, cfg.epochs, cfg.eval_every, cfg.patience, cfg.max_train_s,
                            model.log, on_epoch=lambda e: progress("train", e["epoch"], cfg.epochs, e),
                            positions=int((windows.targets > 0).sum()))


def batch_loss(net: IgcoreNet, batch: WindowBatch, graph_prev: torch.Tensor | None,
               replay: MemoryReplay | None) -> torch.Tensor:
    """Mean cross-entropy of every real position's next item over the full catalogue."""
    items, graph_user = net.item_table(graph_prev)
    hidden = net.seq(items, batch.items, batch.types, batch.gaps)
    graph = None
    if graph_user is not None:  # the last position only
        graph = torch.zeros_like(hidden)
        graph[:, -1] = graph_user[torch.as_tensor(batch.users, device=hidden.device)]
    memory = replay.before(batch.target_events, items) if replay is not None else None
    interest, _ = net.fusion(hidden, graph, memory)
    real = batch.targets > 0
    query = net.head(interest[real])
    interests = net.interest_queries(hidden, batch.items > 0)
    if interests is not None:  # the interest that matches each target best (ComiRec's rule)
        query = query + InterestExtractor.best_for(interests[0][real], items[batch.targets[real]].detach())
    return nn.functional.cross_entropy(net.head.scores(query, items), batch.targets[real] - 1)
