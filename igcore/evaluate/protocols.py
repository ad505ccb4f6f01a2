"""Running a :class:`Recommender` through a protocol, with no test event visible before it is predicted.

- ``loo``: fit on train; validation targets scored for the record; validation fed with ``update``; then each
  user's test target scored. The published Beauty protocol excludes the user's earlier items from the ranking.
- ``temporal``: fit before the cutoff, feed validation, then score each test user's FIRST test event with
  the state frozen at the test cutoff.
- ``stream``: fit before the cutoff, feed validation, then replay the test period in time order in batches:
  every event of a batch is predicted from the state before the batch, then the batch is fed with
  ``update`` (no gradient steps), unless ``frozen``. Events of one batch never see each other.

Exclusion of already-seen items is the ``exclude_seen`` setting; both variants can be ranked from the same
scores in one run (``variants``), and so can several strengths of a popularity re-ranking (``pop_penalty``,
:mod:`igcore.evaluate.rerank`): a model is scored once however many rankings are measured.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from igcore.evaluate.exposure import TrainPopularity
from igcore.evaluate.groups import SEGMENTS, activity_groups, describe, ndcg_by_group
from igcore.evaluate.metrics import RankAccumulator
from igcore.evaluate.recommender import Recommender
from igcore.evaluate.rerank import popularity_penalty
from igcore.evaluate.splits import Split
from igcore.events import Interactions

PROTOCOLS = ("loo", "temporal", "stream")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    protocol: str = "loo"
    exclude_seen: tuple[bool, ...] = (True, False)  # variants ranked from the same scores; first is headline
    batch_size: int = 256  # users per scoring batch (loo/temporal) or events per replay batch (stream)
    frozen: bool = False  # stream: predict without feeding test events
    pop_penalty: tuple[float, ...] = (0.0,)  # popularity re-ranking strengths (rerank.py); first is the row's
    keep_ranks: bool = False  # return each case's rank under the headline ranking, in the order scored


class SeenItems:
    """Which items each user has interacted with so far, for exclusion and history-length segments."""

    def __init__(self, n_users: int) -> None:
        self.items: list[set[int]] = [set() for _ in range(n_users)]
        self.length = np.zeros(n_users, dtype=np.int64)

    def add(self, events: Interactions) -> None:
        for u, i in zip(events.user.tolist(), events.item.tolist()):
            self.items[u].add(i)
        np.add.at(self.length, events.user, 1)

    def mask(self, scores: np.ndarray, users: np.ndarray) -> np.ndarray:
        out = scores.copy()
        for row, u in enumerate(users.tolist()):
            if self.items[u]:
                out[row, list(self.items[u])] = -np.inf
        return out


def evaluate(model: Recommender, split: Split, config: EvalConfig,
             on_batch: Callable[[int, int], None] | None = None) -> dict:
    """Fit ``model`` on the split and measure it under ``config.protocol``; returns metrics per variant."""
    train_s = fit(model, split)
    return {**measure(model, split, config, on_batch), "train_s": train_s}


def fit(model: Recommender, split: Split) -> float:
    """Train on the split's training events (validation for early stopping only); returns seconds."""
    t0 = time.perf_counter()
    model.fit(split.train, split.valid if len(split.valid) else None)
    return time.perf_counter() - t0


def measure(model: Recommender, split: Split, config: EvalConfig,
            on_batch: Callable[[int, int], None] | None = None) -> dict:
    """Measure a fitted model (whose online state it advances: pass a copy to measure twice).

    Returns ``variants`` (one metric dictionary per exclusion setting, at the first popularity penalty),
    ``valid`` (LOO's validation metrics) and ``eval_s``; with several penalties in ``config.pop_penalty``, also
    ``reranked``: {penalty: variants} for each, all ranked from the same scores; with ``config.keep_ranks``,
    ``ranks``: each case's rank under the headline variant, in the order scored (the test events' order, on the
    leave-one-out and stream protocols), for a measure over any group of cases."""
    seen = SeenItems(split.train.n_users)
    seen.add(split.train)
    popularity = TrainPopularity.from_train(split.train, split.n_items)  # once per split: exposure and re-ranking
    rankings = Rankings({(excl, pen): RankAccumulator(split.n_items) for pen in config.pop_penalty
                         for excl in config.exclude_seen}, popularity.counts)
    valid_metrics = None
    t1 = time.perf_counter()
    if config.protocol == "loo" and len(split.valid):
        valid = Rankings({(config.exclude_seen[0], config.pop_penalty[0]): RankAccumulator(split.n_items)},
                         popularity.counts)
        _score_targets(model, split.valid, seen, valid, config.batch_size, None, None)
        valid_metrics = next(iter(valid.accs.values())).summary(popularity)
    if len(split.valid):
        model.update(split.valid)
        seen.add(split.valid)
    if config.protocol == "loo":  # targets lie at each user's own time: the model answers from its latest state
        _score_targets(model, split.test, seen, rankings, config.batch_size, None, on_batch)
    elif config.protocol == "temporal":  # everyone asked at the test cutoff
        _score_targets(model, first_per_user(split.test), seen, rankings, config.batch_size,
                       int(split.info["cutoff_test"]), on_batch)
    elif config.protocol == "stream":
        _replay(model, split.test, seen, rankings, config, on_batch)
    else:
        raise ValueError(f"unknown protocol {config.protocol!r}; valid: {', '.join(PROTOCOLS)}")
    eval_s = time.perf_counter() - t1
    hist = np.concatenate(rankings.history) if rankings.history else np.zeros(0, dtype=np.int64)
    train_lengths = np.bincount(split.train.user, minlength=split.train.n_users)
    activity = activity_groups(train_lengths)
    reranked: dict[float, dict[str, dict]] = {}
    for (excl, pen), acc in rankings.accs.items():
        summary = acc.summary(popularity)
        ranks = acc.all_ranks()
        summary["segments"] = ndcg_by_group(ranks, hist, SEGMENTS)
        by_activity = ndcg_by_group(ranks, train_lengths[acc.all_users()], activity)
        summary.update({f"ndcg@10_{label}": group["ndcg@10"] for label, group in by_activity.items()})
        ranges = describe(activity)
        summary["activity"] = {label: {**group, "history": ranges[label]} for label, group in by_activity.items()}
        reranked.setdefault(pen, {})["history_excluded" if excl else "nothing_excluded"] = summary
    out = {"variants": reranked[config.pop_penalty[0]], "valid": valid_metrics, "eval_s": eval_s}
    if config.keep_ranks:
        out["ranks"] = rankings.accs[(config.exclude_seen[0], config.pop_penalty[0])].all_ranks()
    return {**out, "reranked": reranked} if len(config.pop_penalty) > 1 else out


@dataclasses.dataclass
class Rankings:
    """Where scored cases go: one accumulator per (exclude seen items?, popularity penalty), each ranking the
    same scores, and each case's history length when it was scored (for the segments)."""

    accs: dict[tuple[bool, float], RankAccumulator]
    popularity: np.ndarray  # training interactions per item, for the popularity penalty
    history: list[np.ndarray] = dataclasses.field(default_factory=list)

    def add(self, users: np.ndarray, scores: np.ndarray, targets: np.ndarray, seen: SeenItems) -> None:
        self.history.append(seen.length[users].copy())
        for pen in dict.fromkeys(p for _, p in self.accs):
            ranked = popularity_penalty(scores, self.popularity, pen)
            for (excl, p), acc in self.accs.items():
                if p == pen:
                    acc.add(users, seen.mask(ranked, users) if excl else ranked, targets)


def first_per_user(events: Interactions) -> Interactions:
    """Each user's first event of ``events`` (what the temporal protocol asks at its cutoff)."""
    _, first = np.unique(events.user, return_index=True)
    return events.subset(np.sort(first))


def _score_targets(model: Recommender, targets: Interactions, seen: SeenItems, rankings: Rankings, batch: int,
                   at: int | None, on_batch: Callable[[int, int], None] | None) -> None:
    for start in range(0, len(targets), batch):
        chunk = targets.subset(slice(start, start + batch))
        _rank_chunk(model, chunk, seen, rankings, at)
        if on_batch:
            on_batch(min(start + batch, len(targets)), len(targets))


def _rank_chunk(model: Recommender, chunk: Interactions, seen: SeenItems, rankings: Rankings, at: int | None) -> None:
    """Score each event's user (as of ``at``); rank its item under every exclusion variant and penalty."""
    users, inverse = np.unique(chunk.user, return_inverse=True)
    scores = np.asarray(model.score(users, at=at))[inverse]
    rankings.add(chunk.user, scores, chunk.item, seen)


def _replay(model: Recommender, test: Interactions, seen: SeenItems, rankings: Rankings, config: EvalConfig,
            on_batch: Callable[[int, int], None] | None) -> None:
    for start in range(0, len(test), config.batch_size):
        batch = test.subset(slice(start, start + config.batch_size))
        _rank_chunk(model, batch, seen, rankings, int(batch.ts.min()))  # predicted before being fed
        if not config.frozen:
            model.update(batch)
        seen.add(batch)  # the user's real history, for exclusion and segments, whatever the model saw
        if on_batch:
            on_batch(min(start + config.batch_size, len(test)), len(test))
