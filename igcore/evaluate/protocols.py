"""Running a :class:`Recommender` through a protocol, with no test event visible before it is predicted.

- ``loo``: fit on train; validation targets scored for the record; validation fed with ``update``; then each
  user's test target scored. The published Beauty protocol excludes the user's earlier items from the ranking.
- ``temporal``: fit before the cutoff, feed validation, then score each test user's FIRST test event with
  the state frozen at the test cutoff.
- ``stream``: fit before the cutoff, feed validation, then replay the test period in time order in batches:
  every event of a batch is predicted from the state before the batch, then the batch is fed with
  ``update`` (no gradient steps), unless ``frozen``. Events of one batch never see each other.

Exclusion of already-seen items is the ``exclude_seen`` setting; both variants can be ranked from the same
scores in one run (``variants``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from igcore.evaluate.metrics import RankAccumulator
from igcore.evaluate.recommender import Recommender
from igcore.evaluate.splits import Split
from igcore.events import Interactions
from igcore.ranking import ndcg

PROTOCOLS = ("loo", "temporal", "stream")
SEGMENTS = ((0, 0, "history 0"), (1, 4, "history 1-4"), (5, 19, "history 5-19"), (20, 10**12, "history 20+"))


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    protocol: str = "loo"
    exclude_seen: tuple[bool, ...] = (True, False)  # variants ranked from the same scores; first is headline
    batch_size: int = 256  # users per scoring batch (loo/temporal) or events per replay batch (stream)
    frozen: bool = False  # stream: predict without feeding test events


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
    """Measure a fitted model (whose online state it advances: pass a copy to measure twice)."""
    seen = SeenItems(split.train.n_users)
    seen.add(split.train)
    popularity = np.bincount(split.train.item, minlength=split.n_items).astype(np.float64)
    accs = {excl: RankAccumulator(split.n_items) for excl in config.exclude_seen}
    history: list[np.ndarray] = []
    valid_metrics = None
    t1 = time.perf_counter()
    if config.protocol == "loo" and len(split.valid):
        valid_acc = RankAccumulator(split.n_items)
        _score_targets(model, split.valid, seen, {config.exclude_seen[0]: valid_acc}, [], config.batch_size, None,
                       None)
        valid_metrics = valid_acc.summary(popularity)
    if len(split.valid):
        model.update(split.valid)
        seen.add(split.valid)
    if config.protocol == "loo":  # targets lie at each user's own time: the model answers from its latest state
        _score_targets(model, split.test, seen, accs, history, config.batch_size, None, on_batch)
    elif config.protocol == "temporal":  # everyone asked at the test cutoff
        _score_targets(model, _first_per_user(split.test), seen, accs, history, config.batch_size,
                       int(split.info["cutoff_test"]), on_batch)
    elif config.protocol == "stream":
        _replay(model, split.test, seen, accs, history, config, on_batch)
    else:
        raise ValueError(f"unknown protocol {config.protocol!r}; valid: {', '.join(PROTOCOLS)}")
    eval_s = time.perf_counter() - t1
    hist = np.concatenate(history) if history else np.zeros(0, dtype=np.int64)
    variants = {}
    for excl, acc in accs.items():
        summary = acc.summary(popularity)
        ranks = acc.all_ranks()
        summary["segments"] = {
            label: {"cases": int(sel.sum()), "ndcg@10": ndcg(ranks[sel], 10) if sel.any() else None}
            for lo, hi, label in SEGMENTS for sel in [(hist >= lo) & (hist <= hi)]}
        variants["history_excluded" if excl else "nothing_excluded"] = summary
    return {"variants": variants, "valid": valid_metrics, "eval_s": eval_s}


def _first_per_user(events: Interactions) -> Interactions:
    _, first = np.unique(events.user, return_index=True)
    return events.subset(np.sort(first))


def _score_targets(model: Recommender, targets: Interactions, seen: SeenItems, accs: dict[bool, RankAccumulator],
                   history: list[np.ndarray], batch: int, at: int | None,
                   on_batch: Callable[[int, int], None] | None) -> None:
    for start in range(0, len(targets), batch):
        chunk = targets.subset(slice(start, start + batch))
        _rank_chunk(model, chunk, seen, accs, history, at)
        if on_batch:
            on_batch(min(start + batch, len(targets)), len(targets))


def _rank_chunk(model: Recommender, chunk: Interactions, seen: SeenItems, accs: dict[bool, RankAccumulator],
                history: list[np.ndarray], at: int | None) -> None:
    """Score each event's user (as of ``at``); rank its item under every exclusion variant."""
    users, inverse = np.unique(chunk.user, return_inverse=True)
    scores = np.asarray(model.score(users, at=at))[inverse]
    history.append(seen.length[chunk.user].copy())
    for excl, acc in accs.items():
        acc.add(chunk.user, seen.mask(scores, chunk.user) if excl else scores, chunk.item)


def _replay(model: Recommender, test: Interactions, seen: SeenItems, accs: dict[bool, RankAccumulator],
            history: list[np.ndarray], config: EvalConfig, on_batch: Callable[[int, int], None] | None) -> None:
    for start in range(0, len(test), config.batch_size):
        batch = test.subset(slice(start, start + config.batch_size))
        _rank_chunk(model, batch, seen, accs, history, int(batch.ts.min()))  # predicted before being fed
        if not config.frozen:
            model.update(batch)
        seen.add(batch)  # the user's real history, for exclusion and segments, whatever the model saw
        if on_batch:
            on_batch(min(start + config.batch_size, len(test)), len(test))
