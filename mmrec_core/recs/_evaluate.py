"""Recommendation evaluation: per-user splits, Recall@K / NDCG@K / MRR, coverage, novelty, cold items, sweeps.

Protocol: each user with more than `holdout` interactions gives up `holdout` of them (the latest,
or seeded random ones); every model is fit on the rest and ranks the whole catalog minus the
user's training items. Per-user metrics come from mmrec_core.retrieval._metrics; catalog-level ones
(coverage, novelty) are pure functions here. Seeded and reproducible.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from mmrec_core.errors import EvaluationError
from mmrec_core.recs._interactions import Interactions
from mmrec_core.recs._models import History, make_model
from mmrec_core.recs._models.base import Progress, no_progress
from mmrec_core.retrieval import Weights, ndcg_at_k, recall_at_k, reciprocal_rank, top_k
from mmrec_core.store import Store

SPLITS = ("temporal", "random")


@dataclass(frozen=True)
class Split:
    """train: the interactions models learn from; test: user index -> held-out store rows."""

    train: Interactions
    test: Mapping[int, tuple[int, ...]]
    how: str
    seed: int


def split_interactions(inter: Interactions, *, how: str = "temporal", holdout: int = 1, seed: int = 0,
                       cold_items: float = 0.0) -> Split:
    """Hold out, per user with more than `holdout` interactions, the latest ones (temporal) or random ones (seeded).

    cold_items > 0 also withdraws that share of the items (seeded) from training altogether: every
    interaction with them is held out, so they are cold and only content can reach them.
    """
    if how not in SPLITS:
        raise EvaluationError(f"unknown split {how!r}. Available: {', '.join(SPLITS)}")
    if holdout < 1 or not 0.0 <= cold_items < 1.0:
        raise EvaluationError(f"holdout={holdout!r} must be >= 1 and cold_items={cold_items!r} in [0, 1)")
    rng = np.random.default_rng(seed)
    cold = np.zeros(inter.n_items, bool)
    cold[rng.choice(inter.n_items, int(round(cold_items * inter.n_items)), replace=False)] = True
    in_test = cold[inter.rows]
    dropped = np.zeros(len(inter), bool)  # cold interactions of users too short to evaluate: in neither part
    starts = np.searchsorted(inter.users, np.arange(inter.n_users + 1))
    test: dict[int, tuple[int, ...]] = {}
    for u in range(inter.n_users):
        span = slice(int(starts[u]), int(starts[u + 1]))
        warm = np.flatnonzero(~in_test[span]) + span.start
        if warm.size <= holdout:
            dropped[span] = in_test[span]
            in_test[span] = False
            continue
        in_test[warm[-holdout:] if how == "temporal" else np.sort(rng.choice(warm, holdout, replace=False))] = True
        test[u] = tuple(int(r) for r in inter.rows[span][in_test[span]])
    if not test:
        raise EvaluationError(f"no user has more than {holdout} interaction(s): nothing to hold out")
    return Split(inter.subset(~in_test & ~dropped), test, how, seed)


def coverage(lists: Sequence[Sequence[int]], n_items: int) -> float:
    """Share of the catalog that appears in at least one recommendation list."""
    if n_items < 1:
        raise EvaluationError(f"n_items={n_items!r} must be >= 1")
    return len({r for lst in lists for r in lst}) / n_items


def novelty(lists: Sequence[Sequence[int]], counts: np.ndarray, n_users: int) -> float:
    """Mean self-information -log2((count_i + 1) / (n_users + 1)) of the recommended items, in bits.

    counts (n_items,) are training interactions per item; +1 keeps an item nobody saw finite.
    """
    recommended = [r for lst in lists for r in lst]
    if not recommended:
        return 0.0
    p = (np.asarray(counts, dtype=np.float64)[recommended] + 1.0) / (n_users + 1.0)
    return float(np.mean(-np.log2(p)))


def score_model(model: Any, split: Split, *, k: int = 10, weights: Weights | None = None,
                mix: Mapping[str, float] | None = None, per_user: list[float] | None = None) -> dict[str, float]:
    """Metrics of one fitted model on the split's test users (see module docstring); cold = test items unseen in training.

    `per_user`, if given, receives each test user's NDCG@k in the split's user order (for paired comparisons).
    """
    train = split.train
    counts = train.item_counts()
    sums = {"recall": 0.0, "ndcg": 0.0, "mrr": 0.0}
    cold = {"recall": 0.0, "ndcg": 0.0, "mrr": 0.0}
    n_cold = 0
    lists: list[list[int]] = []
    for u, held in split.test.items():
        history = History(tuple(int(r) for r in train.user_rows(u)), user_id=train.user_ids[u])
        s = model.score(history, weights=weights, mix=mix)
        valid = s.valid.copy()
        valid[list(history.rows)] = False
        ranked = top_k(s.scores, valid, max(int(valid.sum()), 1)).tolist()
        lists.append(ranked[:k])
        rel = set(held)
        ndcg = _add(sums, rel, ranked, k)
        if per_user is not None:
            per_user.append(ndcg)
        cold_rel = {r for r in held if counts[r] == 0}
        if cold_rel:
            n_cold += 1
            _add(cold, cold_rel, ranked, k)
    n = len(split.test)
    row = {f"recall@{k}": sums["recall"] / n, f"ndcg@{k}": sums["ndcg"] / n, "mrr": sums["mrr"] / n,
           f"coverage@{k}": coverage(lists, train.n_items), f"novelty@{k}": novelty(lists, counts, train.n_users),
           "users": float(n), "cold_users": float(n_cold)}
    for name, value in cold.items():
        row[f"cold_{name}@{k}" if name != "mrr" else "cold_mrr"] = value / n_cold if n_cold else math.nan
    return row


def _add(sums: dict[str, float], rel: set[int], ranked: list[int], k: int) -> float:
    ndcg = ndcg_at_k(rel, ranked, k)
    sums["recall"] += recall_at_k(rel, ranked, k)
    sums["ndcg"] += ndcg
    sums["mrr"] += reciprocal_rank(rel, ranked)
    return ndcg


def validation_split(split: Split) -> Split:
    """A validation split carved from the training data the same way the test split was (each user's last
    training interaction for a temporal split): choose settings on it, never on split.test."""
    return split_interactions(split.train, how=split.how, seed=split.seed)


def paired_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Mean of a - b over the same users and its normal 95 % interval (low, high)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if d.size < 2:
        raise EvaluationError("a paired interval needs at least two users")
    half = 1.96 * d.std(ddof=1) / math.sqrt(d.size)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def evaluate_models(store: Store, split: Split, models: Sequence[str], *, k: int = 10,
                    configs: Mapping[str, Any] | None = None, progress: Progress = no_progress) -> list[dict[str, Any]]:
    """Fit every named model on split.train and score it; one row per model (with fit seconds)."""
    rows = []
    for i, name in enumerate(models):
        model = make_model(name, store, (configs or {}).get(name))
        start = time.perf_counter()
        model.fit(split.train, progress=lambda stage, done, total, name=name: progress(f"{name}:{stage}", done, total))
        fit_s = time.perf_counter() - start
        rows.append({"model": name, **score_model(model, split, k=k), "fit_seconds": round(fit_s, 3)})
        progress("models", i + 1, len(models))
    return rows


def weight_sweep(model: Any, split: Split, settings: Sequence[Weights], *, k: int = 10) -> list[dict[str, Any]]:
    """One row per modality-weight setting of a fitted model (content and hybrid re-fuse at scoring: no refit)."""
    return [{"weights": w.as_dict(), **score_model(model, split, k=k, weights=w)} for w in settings]


def alpha_settings(alphas: Sequence[float], *, audio: float = 0.0) -> list[Weights]:
    """Weights for each alpha: text 1-alpha, image alpha (the seed's early fusion), audio fixed."""
    return [Weights.from_alpha(a, audio=audio) for a in alphas]


def table(rows: Sequence[Mapping[str, Any]], *, digits: int = 4) -> list[dict[str, Any]]:
    """Rows with floats rounded (NaN as None) for JSON."""
    def clean(v: Any) -> Any:
        if isinstance(v, float):
            return None if math.isnan(v) else round(v, digits)
        return v

    return [{key: clean(v) for key, v in row.items()} for row in rows]

