"""Training-loop pieces shared by the sequence models: length-bucketed batches and early stopping."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from igcore.config import TrainSettings
from igcore.device import resolve_device
from igcore.ranking import ndcg, target_ranks

SCORE_CELLS = 2**24  # scores in one validation chunk (users x items)
SCORE_USERS = 2048  # ... and users: each is a forward pass over its history, whose activations add up


class SeededModel:
    """Shared set-up of the trainable models: a config with overrides, the device, a training log, seeds."""

    config_class: type[TrainSettings] = TrainSettings

    def __init__(self, config: TrainSettings | None = None, **overrides) -> None:
        self.cfg = dataclasses.replace(config or self.config_class(), **overrides)
        self.device = resolve_device(self.cfg.device)
        self.log: list[dict] = []

    def _seed(self) -> np.random.Generator:
        """Seed torch and return the numpy generator for this fit."""
        torch.manual_seed(self.cfg.seed)
        return np.random.default_rng(self.cfg.seed)


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                   apart: np.ndarray | None = None) -> list[np.ndarray]:
    """Batches of similar-length sequences (random within a length), in random order: a batch is cut to its
    longest member, so short sequences do not pay for long ones. Rows marked ``apart`` (bool) are batched
    only with each other: a batch can then skip work that only those rows need."""
    order = np.lexsort((rng.random(len(lengths)), lengths))
    groups = [order] if apart is None else [order[~apart[order]], order[apart[order]]]
    batches = [g[i:i + batch_size] for g in groups for i in range(0, len(g), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def fit_with_early_stopping(module: torch.nn.Module, run_epoch: Callable[[int], float],
                            validate: Callable[[], float] | None, epochs: int, eval_every: int, patience: int,
                            max_seconds: float, log: list[dict],
                            on_epoch: Callable[[dict], None] | None = None, positions: int = 0,
                            agree: Callable[[bool], bool] = bool) -> None:
    """Run epochs; every ``eval_every`` (and when time runs out) score validation, keep the best weights, stop
    after ``patience`` checks without improvement or after ``max_seconds``; restore the best weights. The
    weights kept are ``module``'s parameters (what training moves): its buffers are inputs (an item text
    table can be the largest tensor of a large catalogue's model), so they are not copied at each best epoch.

    Each log entry records the ``positions`` (training targets) one epoch trains, so a benchmark can state the
    cost per position seen, and the entry where the time cap, not patience or the epoch count, ended training
    carries ``capped``. ``agree`` turns this process's "out of time" into the verdict of every data-parallel
    worker (:meth:`igcore.pipeline.workers.Workers.any`), so that all stop after the same epoch."""
    best, best_state, bad, t0 = -np.inf, None, 0, time.perf_counter()
    for epoch in range(1, epochs + 1):
        module.train()
        entry: dict = {"epoch": epoch, "loss": run_epoch(epoch), "s": round(time.perf_counter() - t0, 2),
                       "positions": positions}
        out_of_time = agree(time.perf_counter() - t0 > max_seconds)
        if validate is not None and (epoch % eval_every == 0 or out_of_time or epoch == epochs):
            module.eval()
            entry["valid_ndcg@10"] = score = validate()
            if score > best:
                best, bad = score, 0
                best_state = {k: v.detach().clone() for k, v in module.named_parameters()}
            else:
                bad += 1
        if out_of_time and bad < patience and epoch < epochs:
            entry["capped"] = True
        log.append(entry)
        if on_epoch:
            on_epoch(entry)
        if bad >= patience or out_of_time:
            break
    if best_state is not None:
        with torch.no_grad():
            for name, param in module.named_parameters():
                param.copy_(best_state[name])
    module.eval()


def validation_ndcg(score: Callable[[np.ndarray], np.ndarray], histories: Sequence, users: np.ndarray,
                    items: np.ndarray, exclude_seen: bool, n_items: int | None = None) -> float:
    """NDCG@10 of ``items`` for ``users`` under ``score``, optionally ranking without each user's history;
    scored in chunks (:func:`validation_ndcgs`)."""
    return validation_ndcgs(lambda u: [score(u)], histories, users, items, exclude_seen, n_items)[0]


def validation_ndcgs(scores: Callable[[np.ndarray], Sequence[np.ndarray]], histories: Sequence, users: np.ndarray,
                     items: np.ndarray, exclude_seen: bool, n_items: int | None = None) -> list[float]:
    """NDCG@10 of ``items`` for ``users`` under each of the score matrices ``scores`` gives for a chunk of users
    (several scorings measured for the cost of one pass over the users), optionally ranking without each user's
    history; scored in chunks of at most ``SCORE_USERS`` users whose score matrix over the ``n_items``
    catalogue holds at most ``SCORE_CELLS`` scores (so a large catalogue's validation costs the memory of a
    small one's). Users are taken in the order of their history's length: a sequence model pads a chunk to its
    longest history, and users of like lengths share chunks."""
    ranks: list[list[np.ndarray]] = []
    chunk = max(1, min(SCORE_USERS, SCORE_CELLS // (n_items or 1)))
    order = np.argsort([len(histories[user]) for user in users.tolist()], kind="stable")
    users, items = users[order], items[order]
    for start in range(0, len(users), chunk):
        u, i = users[start:start + chunk], items[start:start + chunk]
        for n, matrix in enumerate(scores(u)):
            if exclude_seen:
                for r, user in enumerate(u.tolist()):
                    matrix[r, histories[user]] = -np.inf
            if len(ranks) <= n:
                ranks.append([])
            ranks[n].append(target_ranks(matrix, i))
    return [ndcg(np.concatenate(r), 10) for r in ranks]
