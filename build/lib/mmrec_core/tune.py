"""Fit fusion weights to judged queries: a grid on the weight simplex plus local refinement, cross-validated.

Queries are encoded once (their kept candidates); every weight setting is only a re-rank, scored per
query in candidate-index space. Weights live on the simplex of the modalities the queries can use
(fusion renormalises weights, so only their ratios matter); attention also searches its temperature.
Held out means: the queries are split into seeded folds, weights are fitted on the other folds and
scored on each query's own fold; the final weights are fitted on all queries.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from mmrec_core.errors import EvaluationError
from mmrec_core.fusion import MODALITIES, Weights, get_strategy, list_strategies, top_k
from mmrec_core.search import Candidates

if TYPE_CHECKING:
    from mmrec_core.store import Store

METRICS = ("ndcg", "recall", "precision", "mrr")
COARSE_STEP = 0.1
REFINE_STEPS = (0.05, 0.025)
TEMPERATURES = (0.05, 0.1, 0.2)  # the coarse grid; refinement moves it by factors of 0.7
DEFAULT_TEMPERATURE = 0.1
INNER_FOLDS = 3  # a mix of modalities must also win an inner cross-validation against the best single one
MIX_SE = 2.0  # ... and beat it in sample by this many standard errors (about a one-sided 2.5 % test)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Judged:
    """One query: its candidates, the gain of each candidate row (c,) and what the metric divides by."""

    cands: Candidates
    gains: np.ndarray
    n_relevant: int
    ideal_dcg: float


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


ROW_WISE = frozenset({"weighted", "max", "attention", "learned"})  # a row's fused score depends on that row alone
MAX_BATCH = 40_000_000  # padded (queries x candidates x modalities) elements scored in one call


class _Batch:
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


class _Search:
    """Scores settings once (per query) and finds the best on any subset of queries."""

    def __init__(self, judged: Sequence[Judged], strategy: str, metric: str, k: int, temperatures: Sequence[float | None]):
        self.judged, self.strategy, self.metric, self.k = judged, strategy, metric, k
        self.temperatures = list(temperatures)
        self.active = active_modalities(judged)
        self.cache: dict[tuple, np.ndarray] = {}
        size = len(judged) * max(len(j.gains) for j in judged) * len(MODALITIES)
        self.batch = _Batch(judged) if strategy in ROW_WISE and size <= MAX_BATCH else None

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
        fold_rows.append({"fold": f, "weights": _weights(w).as_dict(), **({"temperature": t} if t is not None else {}),
                          "train": round(value, 6), "heldout": round(float(heldout[test].mean()), 6)})
    report(strategy, folds, folds + 1)
    w, t, insample = search.best(np.arange(len(judged)))
    reference_t = DEFAULT_TEMPERATURE if strategy == "attention" else None
    singles = {MODALITIES[m]: float(search.scores(np.eye(len(MODALITIES))[m], reference_t).mean()) for m in search.active}
    report(strategy, folds + 1, folds + 1)
    return Fit(strategy, f"{kind}@{k}", _weights(w), t, float(heldout.mean()), insample,
               float(search.scores(default.as_array().astype(np.float64), reference_t).mean()), singles,
               tuple(fold_rows), len(search.cache), time.perf_counter() - start)


def _weights(w: np.ndarray) -> Weights:
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
    from mmrec_core.profile import item_vectors

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
    return ProfileFit(_weights(best), auc(best), auc(current.as_array()), dominant, len(pos), len(neg))


@dataclass(frozen=True)
class LearnedFit:
    """The learned strategy's parameters (fit on all queries), its held-out metric on the same folds as `fit`."""

    params: dict[str, float]
    weights: Weights
    metric: str
    heldout: float
    insample: float
    default: float  # the learned strategy with its default parameters (= attention at temperature 0.1)
    folds: tuple[dict, ...]
    seconds: float

    def to_json(self) -> dict:
        return {"fusion": "learned", "metric": self.metric, "weights": self.weights.as_dict(),
                "params": {k: round(v, 4) for k, v in self.params.items()}, "heldout": round(self.heldout, 6),
                "insample": round(self.insample, 6), "default": round(self.default, 6), "folds": list(self.folds),
                "seconds": round(self.seconds, 3)}


TRAIN_CANDIDATES = 100  # per query: its relevant rows plus the hardest others (by best similarity)
TRAIN_STEPS, TRAIN_LR, TRAIN_SHARPNESS, TRAIN_L2 = 200, 0.05, 20.0, 1e-3


def fit_learned(judged: Sequence[Judged], *, metric: str = "ndcg@10", folds: int = 5, seed: int = 0,
                progress: Progress | None = None) -> LearnedFit:
    """Train the learned strategy's scale and bias per modality (listwise softmax loss, Adam, seeded, small)
    on each fold's training queries; score it held out on the same folds as `fit`, then train on all."""
    kind, k = parse_metric(metric)
    if folds < 2 or folds > len(judged):
        raise EvaluationError(f"folds={folds} must be between 2 and the number of judged queries ({len(judged)})")
    start = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    active = active_modalities(judged)
    w = np.zeros(len(MODALITIES))
    w[active] = 1.0 / len(active)
    batch = _Batch(judged)
    order = np.random.default_rng(seed).permutation(len(judged))
    fold_of = np.empty(len(judged), int)
    fold_of[order] = np.arange(len(judged)) % folds
    heldout, rows = np.zeros(len(judged)), []
    for f in range(folds):
        report("learned", f, folds + 1)
        train, test = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        params = _train_learned(batch, train, w, seed=seed)
        heldout[test] = batch.metric("learned", w, metric=kind, k=k, temperature=None, params=params)[test]
        rows.append({"fold": f, "params": {n: round(v, 4) for n, v in params.items()},
                     "heldout": round(float(heldout[test].mean()), 6)})
    report("learned", folds, folds + 1)
    params = _train_learned(batch, np.arange(len(judged)), w, seed=seed)
    insample = float(batch.metric("learned", w, metric=kind, k=k, temperature=None, params=params).mean())
    default = float(batch.metric("learned", w, metric=kind, k=k, temperature=None).mean())
    report("learned", folds + 1, folds + 1)
    return LearnedFit(params, _weights(w), f"{kind}@{k}", float(heldout.mean()), insample, default, tuple(rows),
                      time.perf_counter() - start)


def _train_learned(batch: _Batch, queries: np.ndarray, w: np.ndarray, *, seed: int) -> dict[str, float]:
    """Scale and bias per modality maximising the softmax likelihood of the relevant candidates."""
    import torch

    from mmrec_core.fusion import LEARNED_PARAMS

    torch.manual_seed(seed)
    sims, avail, gains = batch.sims[queries], batch.avail[queries], batch.gains[queries]
    # each query's relevant rows and its hardest other rows: the loss only ever looks at the top of the list
    hardness = np.where(avail, sims, -np.inf).max(axis=2) + 10.0 * (gains > 0)
    keep = np.argsort(-hardness, axis=1)[:, :TRAIN_CANDIDATES]
    s = torch.from_numpy(np.take_along_axis(sims, keep[..., None], axis=1))
    usable = torch.from_numpy(np.take_along_axis(avail, keep[..., None], axis=1) & (w[None, None, :] > 0))
    rel = torch.from_numpy(np.take_along_axis(gains, keep, axis=1) > 0)
    log_w = torch.log(torch.from_numpy(np.where(w > 0, w, 1.0)).float())
    scale = torch.full((len(MODALITIES),), 10.0, requires_grad=True)
    bias = torch.zeros(len(MODALITIES), requires_grad=True)
    opt = torch.optim.Adam([scale, bias], lr=TRAIN_LR)
    neg_inf = torch.tensor(float("-inf"))
    for _ in range(TRAIN_STEPS):
        logits = torch.where(usable, s * scale + bias + log_w, neg_inf)
        att = torch.nan_to_num(torch.softmax(logits, dim=2), nan=0.0)
        score = (att * s).sum(dim=2)
        valid = usable.any(dim=2)
        z = torch.where(valid, TRAIN_SHARPNESS * score, neg_inf)
        loss = -(torch.logsumexp(torch.where(rel & valid, z, neg_inf), dim=1) - torch.logsumexp(z, dim=1))
        loss = loss[torch.isfinite(loss)].mean() + TRAIN_L2 * (((scale - 10.0) / 10.0) ** 2 + bias ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    values = [*scale.detach().tolist(), *bias.detach().tolist()]
    return {name: float(v) for name, v in zip(LEARNED_PARAMS, values)}
