"""Scoring for the weight fit: judged queries (candidates and gains) and every query's metric under one setting.

All judged queries are padded into (Q, C, M) arrays, so a row-wise strategy scores them in one pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from mmrec_core.errors import EvaluationError
from mmrec_core.retrieval import MODALITIES, Candidates, get_strategy, top_k

if TYPE_CHECKING:
    pass


METRICS = ("ndcg", "recall", "precision", "mrr")

Progress = Callable[[str, int, int], None]

@dataclass(frozen=True)
class Judged:
    """One query: its candidates, the gain of each candidate row (c,) and what the metric divides by."""

    cands: Candidates
    gains: np.ndarray
    n_relevant: int
    ideal_dcg: float

def parse_metric(name: str) -> tuple[str, int]:
    """'ndcg@10' -> ('ndcg', 10); 'mrr' -> ('mrr', 10). EvaluationError names the choices."""
    kind, _, raw = name.strip().lower().partition("@")
    try:
        k = int(raw) if raw else 10
    except ValueError:
        k = 0
    if kind not in METRICS or k < 1:
        raise EvaluationError(f"unknown metric {name!r}; use one of {', '.join(m + '@K' for m in METRICS)} (K >= 1)")
    return kind, k

def prepare(ids: Sequence[str], candidates: Mapping[str, Candidates], qrels: Mapping[str, Mapping[str, float]],
            *, k: int) -> list[Judged]:
    """Judged queries (those with a positive judgement), gains aligned to each query's candidate rows."""
    row_of = {iid: r for r, iid in enumerate(ids)}
    out = []
    for qid, cands in candidates.items():
        rel = {i: float(g) for i, g in (qrels.get(qid) or {}).items() if g > 0}
        if not rel:
            continue
        gain_of_row = {row_of[i]: g for i, g in rel.items() if i in row_of}
        gains = np.array([gain_of_row.get(int(r), 0.0) for r in cands.rows], np.float32)
        ideal = sorted(rel.values(), reverse=True)[:k]
        out.append(Judged(cands, gains, len(rel), sum(g / math.log2(i + 2) for i, g in enumerate(ideal))))
    if not out:
        raise EvaluationError("no query has relevance judgements (check query_id values in the qrels)")
    return out

def per_query(judged: Sequence[Judged], weights: np.ndarray, *, strategy: str, metric: str, k: int,
              temperature: float | None = None, params: Mapping[str, float] | None = None) -> np.ndarray:
    """The metric of every judged query (Q,) float64 under one weight setting; the same values as evaluate."""
    fn = get_strategy(strategy)
    params = {**({"temperature": temperature} if temperature is not None else {}), **(params or {})}
    depth = max(k, 10) if metric == "mrr" else k
    discount = 1.0 / np.log2(np.arange(depth) + 2.0)
    out = np.zeros(len(judged))
    w = np.asarray(weights, np.float32)
    for q, j in enumerate(judged):
        fused = fn(j.cands.sims, j.cands.avail, w, **params)
        valid = fused.valid
        if j.cands.exclude:
            valid = valid & ~np.isin(j.cands.rows, np.fromiter(j.cands.exclude, dtype=np.int64))
        if not valid.any():
            continue
        g = j.gains[top_k(fused.scores, valid, depth)]
        if metric == "ndcg":
            out[q] = float(g @ discount[: g.size]) / j.ideal_dcg if j.ideal_dcg > 0 else 0.0
        elif metric == "recall":
            out[q] = float((g > 0).sum()) / j.n_relevant
        elif metric == "precision":
            out[q] = float((g > 0).sum()) / k
        else:
            hits = np.flatnonzero(g > 0)
            out[q] = 1.0 / (hits[0] + 1) if hits.size else 0.0
    return out

def active_modalities(judged: Sequence[Judged]) -> list[int]:
    """Indices of the modalities some query can compare with some candidate (the others' weights do nothing)."""
    used = np.zeros(len(MODALITIES), bool)
    for j in judged:
        used |= j.cands.avail.any(axis=0)
    return [int(m) for m in np.flatnonzero(used)]

ROW_WISE = frozenset({"weighted", "max", "attention", "learned"})  # a row's fused score depends on that row alone

MAX_BATCH = 40_000_000  # padded (queries x candidates x modalities) elements scored in one call

class Batch:
    """All judged queries padded into (Q, C, M) arrays, so a row-wise strategy scores them in one call."""

    def __init__(self, judged: Sequence[Judged]) -> None:
        q, c, m = len(judged), max(len(j.gains) for j in judged), len(MODALITIES)
        self.sims = np.zeros((q, c, m), np.float32)
        self.avail = np.zeros((q, c, m), bool)
        self.gains = np.zeros((q, c), np.float32)
        for i, j in enumerate(judged):
            n = len(j.gains)
            self.sims[i, :n], self.avail[i, :n], self.gains[i, :n] = j.cands.sims, j.cands.avail, j.gains
            if j.cands.exclude:
                self.avail[i, :n] &= ~np.isin(j.cands.rows, np.fromiter(j.cands.exclude, dtype=np.int64))[:, None]
        self.n_relevant = np.array([j.n_relevant for j in judged], np.float64)
        self.ideal = np.array([j.ideal_dcg for j in judged], np.float64)

    def metric(self, strategy: str, w: np.ndarray, *, metric: str, k: int, temperature: float | None,
               params: Mapping[str, float] | None = None) -> np.ndarray:
        """The same values as per_query, for a row-wise strategy (ties at the cut may pick another tied row)."""
        q, c, m = self.sims.shape
        params = {**({"temperature": temperature} if temperature is not None else {}), **(params or {})}
        fused = get_strategy(strategy)(self.sims.reshape(-1, m), self.avail.reshape(-1, m), np.asarray(w, np.float32), **params)
        scores = np.where(fused.valid, fused.scores, -np.inf).reshape(q, c)
        depth = min(c, max(k, 10) if metric == "mrr" else k)
        part = np.sort(np.argpartition(-scores, depth - 1, axis=1)[:, :depth], axis=1)
        vals = np.take_along_axis(scores, part, axis=1)
        best = np.take_along_axis(part, np.argsort(-vals, axis=1, kind="stable"), axis=1)
        g = np.where(np.isfinite(np.take_along_axis(scores, best, axis=1)), np.take_along_axis(self.gains, best, axis=1), 0.0)
        if metric == "ndcg":
            dcg = g @ (1.0 / np.log2(np.arange(depth) + 2.0))
            return np.divide(dcg, self.ideal, out=np.zeros(q), where=self.ideal > 0)
        if metric == "recall":
            return (g > 0).sum(axis=1) / self.n_relevant
        if metric == "precision":
            return (g > 0).sum(axis=1) / k
        first = np.argmax(g > 0, axis=1)
        return np.where((g > 0).any(axis=1), 1.0 / (first + 1), 0.0)
