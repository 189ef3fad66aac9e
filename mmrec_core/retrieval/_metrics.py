"""Ranking metrics as pure functions of (relevant, ranked, k); hand-checkable, no state."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from mmrec_core.errors import EvaluationError


def _check_k(k: int) -> None:
    if k < 1:
        raise EvaluationError(f"k={k!r} must be >= 1")


def recall_at_k(relevant: Mapping[str, float] | set[str], ranked: Sequence[str], k: int) -> float:
    """Share of the relevant items found in the first k ranked (0 if nothing is relevant)."""
    _check_k(k)
    rel = {i for i in relevant if _gain(relevant, i) > 0}
    if not rel:
        return 0.0
    return len(rel.intersection(ranked[:k])) / len(rel)


def precision_at_k(relevant: Mapping[str, float] | set[str], ranked: Sequence[str], k: int) -> float:
    """Share of the first k slots holding a relevant item (always divided by k)."""
    _check_k(k)
    return sum(1 for i in ranked[:k] if _gain(relevant, i) > 0) / k


def ndcg_at_k(relevant: Mapping[str, float] | set[str], ranked: Sequence[str], k: int) -> float:
    """NDCG@k with gain = relevance and discount 1/log2(rank+1)."""
    _check_k(k)
    dcg = sum(_gain(relevant, item) / math.log2(r + 2) for r, item in enumerate(ranked[:k]))
    ideal = sorted((_gain(relevant, i) for i in relevant), reverse=True)[:k]
    idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def reciprocal_rank(relevant: Mapping[str, float] | set[str], ranked: Sequence[str], k: int | None = None) -> float:
    """1/rank of the first relevant item within the first k (all if k is None), else 0."""
    cut = ranked if k is None else ranked[:k]
    for r, item in enumerate(cut):
        if _gain(relevant, item) > 0:
            return 1.0 / (r + 1)
    return 0.0


def _gain(relevant: Mapping[str, float] | set[str], item: str) -> float:
    if isinstance(relevant, Mapping):
        return float(relevant.get(item, 0.0))
    return 1.0 if item in relevant else 0.0
