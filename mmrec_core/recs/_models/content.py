"""Content model: the user's profile (recency-weighted per-modality means of liked items) matched with the current fusion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from mmrec_core.query import item_vectors
from mmrec_core.recs._interactions import Interactions
from mmrec_core.recs._models.base import History, Progress, Scored, no_progress, recency_weights, register_model
from mmrec_core.retrieval import MODALITIES, QueryVectors, Weights, get_strategy
from mmrec_core.store import Store
from mmrec_core.vectors import l2_normalize


@dataclass(frozen=True)
class ContentConfig:
    weights: Weights = Weights()
    strategy: str = "weighted"  # any fusion strategy
    half_life: float = 20.0  # in liked items: the 20th newest like weighs half the newest


@register_model("content", "the profile (recency-weighted mean of liked items per modality) ranked with the current fusion")
class Content:
    """Needs no training: a like changes the profile mean, and so the ranking, at once.

    Contributions are the fusion's per-modality split (they sum to the score).
    """

    name = "content"
    config_class = ContentConfig

    def __init__(self, store: Store, config: ContentConfig = ContentConfig()) -> None:
        get_strategy(config.strategy)  # an unknown strategy fails here, listing the available ones
        self.store, self.config = store, config

    def fit(self, train: Interactions, *, progress: Progress = no_progress) -> None:
        progress("content", 1, 1)

    def profile(self, history: History) -> QueryVectors | None:
        """Per modality the recency-weighted mean of the liked items' vectors (and uploads), L2-normalised."""
        rows = list(history.rows)
        weights = recency_weights(len(rows), self.config.half_life)
        vecs = item_vectors(self.store, rows) if rows else {m: None for m in MODALITIES}
        out: dict[str, np.ndarray | None] = {}
        for m in MODALITIES:
            parts, w = [], []
            if vecs[m] is not None:
                has = np.abs(vecs[m]).sum(axis=1) > 0
                parts.append(vecs[m][has])
                w.append(weights[has])
            ups = [u.get(m) for u in history.uploads if u.get(m) is not None and np.any(u.get(m))]
            if ups:
                parts.append(np.stack(ups).astype(np.float32))
                w.append(np.ones(len(ups)))
            total = np.concatenate(w) if w else np.zeros(0)
            if total.sum() <= 0:
                out[m] = None
                continue
            mean = (np.concatenate(parts) * total[:, None]).sum(axis=0) / total.sum()
            out[m] = l2_normalize(mean[None, :])[0] if np.linalg.norm(mean) > 1e-6 else None
        qv = QueryVectors(**out)
        return None if qv.is_empty else qv

    def score(self, history: History, *, weights: Weights | None = None,
              mix: Mapping[str, float] | None = None) -> Scored:
        n = len(self.store.items)
        qv = self.profile(history)
        if qv is None:
            return Scored(np.zeros(n, np.float32), np.zeros(n, bool), MODALITIES, lambda rows: np.zeros((len(rows), len(MODALITIES)), np.float32))
        cands = self.store.retriever.candidates(qv)
        w = (weights or self.config.weights).as_array()
        fused = get_strategy(self.config.strategy)(cands.sims, cands.avail, w)
        scores = np.zeros(n, np.float32)
        valid = np.zeros(n, bool)
        scores[cands.rows] = fused.scores
        valid[cands.rows] = fused.valid
        position = np.full(n, -1, np.int64)
        position[cands.rows] = np.arange(cands.rows.size)

        def contributions_of(rows: np.ndarray) -> np.ndarray:
            pos = position[np.asarray(rows, dtype=np.int64)]
            out = np.zeros((pos.size, len(MODALITIES)), np.float32)
            out[pos >= 0] = fused.contributions_of(pos[pos >= 0])
            return out

        return Scored(scores, valid, MODALITIES, contributions_of)

    def arrays(self) -> dict[str, np.ndarray]:
        return {}

    def load_arrays(self, arrays: Mapping[str, np.ndarray], old_to_new: np.ndarray, train: Interactions) -> None:
        return None
