"""Spherical k-means over unit item vectors, and readable cluster labels by class-based TF-IDF.

Plain numpy, seeded, so the same catalogue and seed give the same clusters. k-means++ seeds and Lloyd steps run
on a sample of at most ``sample`` items; every item is then assigned to its nearest centroid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from igcore.ranking import unit_rows

CHUNK = 8192


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest centroid by cosine similarity (rows of both are unit length), in chunks."""
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), CHUNK):
        out[start:start + CHUNK] = np.argmax(x[start:start + CHUNK] @ centroids.T, axis=1)
    return out


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 30, sample: int = 20000) -> tuple[np.ndarray,
                                                                                              np.ndarray]:
    """(centroids (k, d), cluster of each row). ``k`` is capped at the number of distinct rows."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float32)
    fit = x[rng.choice(len(x), sample, replace=False)] if len(x) > sample else x
    k = max(1, min(k, len(np.unique(fit, axis=0))))
    centroids = fit[[int(rng.integers(len(fit)))]]
    for _ in range(1, k):  # k-means++: next seed drawn in proportion to its cosine distance from the nearest
        dist = np.clip(1.0 - (fit @ centroids.T).max(axis=1), 0.0, None).astype(np.float64)
        total = dist.sum()
        nxt = int(rng.choice(len(fit), p=dist / total)) if total > 0 else int(rng.integers(len(fit)))
        centroids = np.vstack([centroids, fit[nxt]])
    labels = assign(fit, centroids)
    for _ in range(iters):
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, fit)
        empty = ~sums.any(axis=1)
        if empty.any():  # re-seed an empty cluster at the points worst served
            worst = np.argsort((fit * centroids[labels]).sum(axis=1))[:int(empty.sum())]
            sums[empty] = fit[worst]
        centroids = unit_rows(sums)
        new = assign(fit, centroids)
        if np.array_equal(new, labels):
            break
        labels = new
    return centroids, assign(x, centroids)


def ctfidf_labels(cluster: np.ndarray, docs: list[list[str]], n_clusters: int, n_words: int = 3) -> list[str]:
    """Top words of each cluster by class-based TF-IDF (BERTopic's): tf of the word within the cluster's
    concatenated documents times log(1 + average words per cluster / the word's frequency over all clusters)."""
    words = pd.DataFrame({"cluster": np.repeat(cluster, [len(d) for d in docs]),
                          "word": [w for d in docs for w in d]})
    labels = ["" for _ in range(n_clusters)]
    if words.empty:
        return labels
    counts = words.groupby(["cluster", "word"]).size().rename("n").reset_index()
    size = counts.groupby("cluster")["n"].transform("sum")
    freq = counts.groupby("word")["n"].transform("sum")
    average = counts["n"].sum() / max(counts["cluster"].nunique(), 1)
    counts["score"] = counts["n"] / size * np.log1p(average / freq)
    top = counts.sort_values(["cluster", "score", "word"], ascending=[True, False, True])
    for c, group in top.groupby("cluster"):
        labels[int(c)] = ", ".join(group["word"].head(n_words))
    return labels
