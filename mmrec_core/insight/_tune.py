"""Fit fusion weights to judged queries: a grid on the weight simplex plus local refinement, cross-validated.

Queries are encoded once (their kept candidates); every weight setting is only a re-rank, scored per
query in candidate-index space (_tune_score). Weights live on the simplex of the modalities the queries can
use (fusion renormalises weights, so only their ratios matter); attention also searches its temperature.
Held out means: the queries are split into seeded folds, weights are fitted on the other folds and
scored on each query's own fold; the final weights are fitted on all queries. Also: the weights that
separate one user's likes from their dislikes.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mmrec_core.errors import EvaluationError
from mmrec_core.retrieval import MODALITIES, Weights, get_strategy, list_strategies

if TYPE_CHECKING:
    from mmrec_core.store import Store
from mmrec_core.insight._tune_score import (MAX_BATCH, ROW_WISE, Batch, Judged, Progress, active_modalities,
                                            parse_metric, per_query)

COARSE_STEP = 0.1

REFINE_STEPS = (0.05, 0.025)

TEMPERATURES = (0.05, 0.1, 0.2)  # the coarse grid; refinement moves it by factors of 0.7

DEFAULT_TEMPERATURE = 0.1

INNER_FOLDS = 3  # a mix of modalities must also win an inner cross-validation against the best single one

MIX_SE = 2.0  # ... and beat it in sample by this many standard errors (about a one-sided 2.5 % test)

@dataclass(frozen=True)
class Fit:
    """The fitted setting of one strategy and its metric: held out, in sample, and for the references."""

    strategy: str
    metric: str
    weights: Weights
    temperature: float | None
    heldout: float
    insample: float
    default: float
    per_modality: dict[str, float]
    folds: tuple[dict, ...] = field(default=())
    settings: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        r = lambda v: round(float(v), 6)  # noqa: E731
        return {"fusion": self.strategy, "metric": self.metric, "weights": {m: r(v) for m, v in self.weights.as_dict().items()},
                **({"temperature": self.temperature} if self.temperature is not None else {}),
                "heldout": r(self.heldout), "insample": r(self.insample), "default": r(self.default),
                "per_modality": {m: r(v) for m, v in self.per_modality.items()},
                "folds": list(self.folds), "settings": self.settings, "seconds": round(self.seconds, 3)}

def simplex_grid(active: Sequence[int], step: float) -> list[np.ndarray]:
    """Every weight vector (M,) with the active entries on a `step` grid summing to one, the rest zero."""
    n = round(1 / step)
    points = []
    for combo in itertools.product(range(n + 1), repeat=max(len(active) - 1, 0)):
        last = n - sum(combo)
        if last < 0:
            continue
        w = np.zeros(len(MODALITIES))
        for m, c in zip(active, (*combo, last)):
            w[m] = c / n
        points.append(w)
    return points

class _Search:
    """Scores settings once (per query) and finds the best on any subset of queries."""

    def __init__(self, judged: Sequence[Judged], strategy: str, metric: str, k: int, temperatures: Sequence[float | None]):
        self.judged, self.strategy, self.metric, self.k = judged, strategy, metric, k
        self.temperatures = list(temperatures)
        self.active = active_modalities(judged)
        self.cache: dict[tuple, np.ndarray] = {}
        size = len(judged) * max(len(j.gains) for j in judged) * len(MODALITIES)
        self.batch = Batch(judged) if strategy in ROW_WISE and size <= MAX_BATCH else None

    def scores(self, w: np.ndarray, temperature: float | None) -> np.ndarray:
        key = (tuple(np.round(w, 6)), temperature)
        if key not in self.cache:
            if self.batch is not None:
                self.cache[key] = self.batch.metric(self.strategy, w, metric=self.metric, k=self.k, temperature=temperature)
            else:
                self.cache[key] = per_query(self.judged, w, strategy=self.strategy, metric=self.metric, k=self.k,
                                            temperature=temperature)
        return self.cache[key]

    def best(self, subset: np.ndarray, *, inner_folds: int = INNER_FOLDS) -> tuple[np.ndarray, float | None, float]:
        """The best (weights, temperature, mean metric on subset), or the best single modality when a mix
        does not earn its place: it must beat the single by MIX_SE standard errors of the paired gain in
        sample (a search finds chance wins), and beat it held out in an inner cross-validation of the same
        search on the subset."""
        w, t, value = self._search(subset)
        single, value_single = self._best_single(subset, t)
        gain = self.scores(w, t)[subset] - self.scores(single, t)[subset]
        se = gain.std(ddof=1) / np.sqrt(gain.size) if gain.size > 1 else 0.0
        if gain.mean() <= MIX_SE * se:
            return single, t, value_single
        if inner_folds >= 2 and subset.size >= 2 * inner_folds:
            inner = np.arange(subset.size) % inner_folds
            mixed, alone = 0.0, 0.0
            for f in range(inner_folds):
                train, test = subset[inner != f], subset[inner == f]
                wi, ti, _ = self._search(train)
                si, _ = self._best_single(train, ti)
                mixed += self.scores(wi, ti)[test].sum()
                alone += self.scores(si, ti)[test].sum()
            if mixed <= alone:
                return single, t, value_single
        return w, t, value

    def _best_single(self, subset: np.ndarray, t: float | None) -> tuple[np.ndarray, float]:
        singles = [np.eye(len(MODALITIES))[m] for m in self.active]
        single = max(singles, key=lambda e: self.scores(e, t)[subset].mean())
        return single, float(self.scores(single, t)[subset].mean())

    def _search(self, subset: np.ndarray) -> tuple[np.ndarray, float | None, float]:
        """Coarse grid, then pairwise moves of weight (and temperature moves) while they improve the mean."""
        cands = [(w, t) for t in self.temperatures for w in simplex_grid(self.active, COARSE_STEP)]
        w, t = max(cands, key=lambda c: (self.scores(*c)[subset].mean(), -_distance_to_uniform(c[0], self.active)))
        value = self.scores(w, t)[subset].mean()
        for step in REFINE_STEPS:
            improved = True
            while improved:
                improved = False
                for i, j in itertools.permutations(self.active, 2):
                    nw = w.copy()
                    nw[i] += step
                    nw[j] -= step
                    if nw[j] < -1e-9:
                        continue
                    nv = self.scores(np.clip(nw, 0, 1), t)[subset].mean()
                    if nv > value + 1e-12:
                        w, value, improved = np.clip(nw, 0, 1), nv, True
                if t is not None:
                    for nt in (t * 0.7, t / 0.7):
                        nv = self.scores(w, round(nt, 5))[subset].mean()
                        if nv > value + 1e-12:
                            t, value, improved = round(nt, 5), nv, True
        return w, t, float(value)

def _distance_to_uniform(w: np.ndarray, active: Sequence[int]) -> float:
    """Ties go to the most even weights (the least committed choice)."""
    return float(np.abs(w[list(active)] - 1 / len(active)).sum()) if active else 0.0

def fit(judged: Sequence[Judged], *, strategy: str = "weighted", metric: str = "ndcg@10", folds: int = 5,
        seed: int = 0, default: Weights = Weights(), tune_temperature: bool = True,
        progress: Progress | None = None) -> Fit:
    """Fit one strategy's weights (and attention's temperature) with `folds`-fold cross-validation over queries."""
    if strategy not in list_strategies():
        get_strategy(strategy)  # raises UnknownNameError listing the strategies
    kind, k = parse_metric(metric)
    if folds < 2 or folds > len(judged):
        raise EvaluationError(f"folds={folds} must be between 2 and the number of judged queries ({len(judged)})")
    start = time.perf_counter()
    temps: list[float | None] = [None]
    if strategy == "attention":
        temps = list(TEMPERATURES) if tune_temperature else [DEFAULT_TEMPERATURE]
    search = _Search(judged, strategy, kind, k, temps)
    report = progress or (lambda stage, done, total: None)
    order = np.random.default_rng(seed).permutation(len(judged))
    fold_of = np.empty(len(judged), int)
    fold_of[order] = np.arange(len(judged)) % folds
    heldout = np.zeros(len(judged))
    fold_rows = []
    for f in range(folds):
        report(strategy, f, folds + 1)
        train, test = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        w, t, value = search.best(train)
        heldout[test] = search.scores(w, t)[test]
        fold_rows.append({"fold": f, "weights": as_weights(w).as_dict(), **({"temperature": t} if t is not None else {}),
                          "train": round(value, 6), "heldout": round(float(heldout[test].mean()), 6)})
    report(strategy, folds, folds + 1)
    w, t, insample = search.best(np.arange(len(judged)))
    reference_t = DEFAULT_TEMPERATURE if strategy == "attention" else None
    singles = {MODALITIES[m]: float(search.scores(np.eye(len(MODALITIES))[m], reference_t).mean()) for m in search.active}
    report(strategy, folds + 1, folds + 1)
    return Fit(strategy, f"{kind}@{k}", as_weights(w), t, float(heldout.mean()), insample,
               float(search.scores(default.as_array().astype(np.float64), reference_t).mean()), singles,
               tuple(fold_rows), len(search.cache), time.perf_counter() - start)

def as_weights(w: np.ndarray) -> Weights:
    return Weights(**{m: round(float(v), 4) for m, v in zip(MODALITIES, w)})

MIN_LIKES, MIN_DISLIKES = 3, 2

@dataclass(frozen=True)
class ProfileFit:
    """Weights that best separate a user's liked from disliked items, and how well (AUC), against `current`."""

    weights: Weights
    auc: float
    current_auc: float
    dominant: str
    n_liked: int
    n_disliked: int

def fit_profile(store: "Store", liked: Sequence[str], disliked: Sequence[str], *, current: Weights,
                step: float = COARSE_STEP) -> ProfileFit | None:
    """Per-modality weights under which each rated item's similarity to the user's other likes ranks likes
    above dislikes (leave-one-out prototypes, weighted fusion, AUC); None below MIN_LIKES / MIN_DISLIKES."""
    from mmrec_core.query import item_vectors

    known = {iid: r for r, iid in enumerate(store.ids)}
    pos, neg = [known[i] for i in liked if i in known], [known[i] for i in disliked if i in known]
    if len(pos) < MIN_LIKES or len(neg) < MIN_DISLIKES:
        return None
    vecs = item_vectors(store, pos + neg)
    sims = np.zeros((len(pos) + len(neg), len(MODALITIES)), np.float32)
    avail = np.zeros_like(sims, bool)
    for j, m in enumerate(MODALITIES):
        v = vecs[m]
        has = np.abs(v).sum(axis=1) > 0
        liked_sum, liked_n = v[: len(pos)].sum(axis=0), has[: len(pos)].sum()
        for r in range(len(v)):
            own = r < len(pos) and has[r]  # a liked item is compared with the others' likes, not with itself
            n = liked_n - own
            if not has[r] or n == 0:
                continue
            proto = liked_sum - (v[r] if own else 0.0)
            norm = np.linalg.norm(proto)
            if norm > 0:
                sims[r, j], avail[r, j] = float(v[r] @ proto) / norm, True
    label = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
    active = [int(m) for m in np.flatnonzero(avail.any(axis=0))]
    if not active:
        return None
    weighted = get_strategy("weighted")

    def scored(w: np.ndarray) -> tuple[float, float]:
        """(AUC, separation): AUC first; where it saturates, the gap between the means in pooled deviations."""
        fused = weighted(sims, avail, np.asarray(w, np.float32))
        s = np.where(fused.valid, fused.scores, 0.0)
        diff = s[label][:, None] - s[~label][None, :]
        spread = np.sqrt((s[label].var() + s[~label].var()) / 2) + 1e-6
        return float(((diff > 0) + 0.5 * (diff == 0)).mean()), float((s[label].mean() - s[~label].mean()) / spread)

    def auc(w: np.ndarray) -> float:
        return scored(w)[0]

    grid = simplex_grid(active, step)
    best = max(grid, key=scored)
    dominant = MODALITIES[int(np.argmax(best))]
    return ProfileFit(as_weights(best), auc(best), auc(current.as_array()), dominant, len(pos), len(neg))
