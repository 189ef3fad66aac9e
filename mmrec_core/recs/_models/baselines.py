"""Interaction-only baselines: popularity and item-kNN (cosine over co-occurrence, top neighbours kept)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from mmrec_core.recs._interactions import Interactions
from mmrec_core.recs._models.base import (History, ModelError, Progress, Scored, no_progress, recency_weights,
                                          register_model, remap_items, single_part)
from mmrec_core.retrieval import Weights
from mmrec_core.store import Store


@dataclass(frozen=True)
class PopularityConfig:
    pass


@register_model("popularity", "most interacted-with items first, the same for everyone")
class Popularity:
    """score_i = count_i / max count: items with no interaction score 0."""

    name = "popularity"
    config_class = PopularityConfig

    def __init__(self, store: Store, config: PopularityConfig = PopularityConfig()) -> None:
        self.store, self.config = store, config
        self.counts: np.ndarray | None = None

    def fit(self, train: Interactions, *, progress: Progress = no_progress) -> None:
        self.counts = train.item_counts().astype(np.float32)
        progress("popularity", 1, 1)

    def score(self, history: History, *, weights: Weights | None = None,
              mix: Mapping[str, float] | None = None) -> Scored:
        counts = _trained(self.counts, self.name)
        return single_part(counts / max(float(counts.max()), 1.0), "popularity")

    def arrays(self) -> dict[str, np.ndarray]:
        return {"counts": _trained(self.counts, self.name)}

    def load_arrays(self, arrays: Mapping[str, np.ndarray], old_to_new: np.ndarray, train: Interactions) -> None:
        self.counts = remap_items(arrays["counts"], old_to_new, len(self.store.items))


@dataclass(frozen=True)
class ItemKNNConfig:
    neighbours: int = 100  # similar items kept per item
    shrink: float = 10.0  # damps similarities resting on few co-occurrences
    half_life: float = 0.0  # recency weighting of the history (0: all alike)


@register_model("itemknn", "item-kNN: cosine of items' co-occurrence in histories, summed over the history")
class ItemKNN:
    """sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrink), top `neighbours` per item; score_j = Σ_h w_h sim(h, j)."""

    name = "itemknn"
    config_class = ItemKNNConfig

    def __init__(self, store: Store, config: ItemKNNConfig = ItemKNNConfig()) -> None:
        self.store, self.config = store, config
        self.sim = None  # scipy CSR (n, n) float32

    def fit(self, train: Interactions, *, progress: Progress = no_progress) -> None:
        from scipy import sparse

        if self.config.neighbours < 1:
            raise ModelError(f"itemknn neighbours={self.config.neighbours!r} must be >= 1")
        n = train.n_items
        x = sparse.csr_matrix((np.ones(len(train), np.float32), (train.users, train.rows)), shape=(train.n_users, n))
        co = (x.T @ x).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        co = co.tocoo()
        data = co.data / (norms[co.row] * norms[co.col] + self.config.shrink)
        self.sim = _top_per_row(sparse.csr_matrix((data.astype(np.float32), (co.row, co.col)), shape=(n, n)),
                                self.config.neighbours, progress)

    def score(self, history: History, *, weights: Weights | None = None,
              mix: Mapping[str, float] | None = None) -> Scored:
        sim = _trained(self.sim, self.name)
        n = sim.shape[0]
        if not history.rows:
            return single_part(np.zeros(n, np.float32), "itemknn")
        w = recency_weights(len(history.rows), self.config.half_life).astype(np.float32)
        rows = np.asarray(history.rows, dtype=np.int64)
        scores = np.asarray(sim[rows].T @ w, dtype=np.float32).ravel()
        return single_part(scores, "itemknn")

    def arrays(self) -> dict[str, np.ndarray]:
        sim = _trained(self.sim, self.name).tocoo()
        return {"row": sim.row.astype(np.int64), "col": sim.col.astype(np.int64), "value": sim.data.astype(np.float32)}

    def load_arrays(self, arrays: Mapping[str, np.ndarray], old_to_new: np.ndarray, train: Interactions) -> None:
        from scipy import sparse

        row, col = old_to_new[arrays["row"]], old_to_new[arrays["col"]]
        keep = (row >= 0) & (col >= 0)
        n = len(self.store.items)
        self.sim = sparse.csr_matrix((arrays["value"][keep], (row[keep], col[keep])), shape=(n, n))


def _top_per_row(sim, k: int, progress: Progress):
    """Keep each row's k largest entries of a CSR matrix."""
    from scipy import sparse

    indptr, indices, data = sim.indptr, sim.indices, sim.data
    keep = np.zeros(data.shape[0], dtype=bool)
    n = sim.shape[0]
    for i in range(n):
        lo, hi = indptr[i], indptr[i + 1]
        if hi - lo <= k:
            keep[lo:hi] = True
        else:
            keep[lo + np.argpartition(-data[lo:hi], k - 1)[:k]] = True
        if i % 10_000 == 0 or i == n - 1:
            progress("neighbours", i + 1, n)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    return sparse.csr_matrix((data[keep], (rows[keep], indices[keep])), shape=sim.shape)


def _trained(value, name: str):
    if value is None:
        raise ModelError(f"model {name!r} is not trained: fit it on interactions (or load a trained one) first")
    return value
