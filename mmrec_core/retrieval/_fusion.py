"""Fusion strategies: per-modality similarities (n, M) -> fused score (n,) and exact contributions (n, M).

Every strategy returns contributions that sum to the score (to float rounding), so the
dashboard can split a score per modality without approximation. Where an item lacks a
modality (or the query has no part for it), that modality's weight is set to zero for that
item and the remaining weights are renormalised to sum to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from mmrec_core.errors import FusionError, UnknownNameError

MODALITIES: tuple[str, ...] = ("text", "image", "audio")


@dataclass(frozen=True)
class Weights:
    """Non-negative weight per modality; they need not sum to one."""

    text: float = 0.5
    image: float = 0.5
    audio: float = 0.5

    def __post_init__(self) -> None:
        for name in MODALITIES:
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise FusionError(f"weight {name}={value!r} must be a finite number >= 0")

    @classmethod
    def from_alpha(cls, alpha: float, *, audio: float = 0.0) -> "Weights":
        """The seed's alpha: text gets 1-alpha, image gets alpha (x_f = (1-a) f_t + a f_i)."""
        if not 0.0 <= alpha <= 1.0:
            raise FusionError(f"alpha={alpha!r} must lie in [0, 1]")
        return cls(text=1.0 - alpha, image=alpha, audio=audio)

    @classmethod
    def parse(cls, spec: str) -> "Weights":
        """Parse 'text=0.3,image=0.7,audio=0' (missing modalities get 0)."""
        values = {name: 0.0 for name in MODALITIES}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, raw = part.partition("=")
            name = name.strip()
            if not sep or name not in values:
                raise FusionError(
                    f"bad weight {part!r}: expected NAME=VALUE with NAME in {', '.join(MODALITIES)}"
                )
            try:
                values[name] = float(raw)
            except ValueError:
                raise FusionError(f"bad weight value {raw!r} for {name}: not a number") from None
        return cls(**values)

    def as_array(self) -> np.ndarray:
        """Weights as float32 (M,) in MODALITIES order."""
        return np.array([getattr(self, m) for m in MODALITIES], dtype=np.float32)

    def as_dict(self) -> dict[str, float]:
        return {m: float(getattr(self, m)) for m in MODALITIES}


@dataclass(frozen=True)
class Fused:
    """Fusion output over n candidates: scores (n,) and valid (n,) bool; contributions on demand.

    `contributions_of(rows)` gives the (len(rows), M) split of those rows' scores; computing it
    only for the top-K keeps a re-rank at 100k candidates to a weighted add plus top-k.
    """

    scores: np.ndarray
    valid: np.ndarray
    contributions_of: Callable[[np.ndarray], np.ndarray]

    @property
    def contributions(self) -> np.ndarray:
        """Contributions of every candidate (n, M)."""
        return self.contributions_of(np.arange(self.scores.shape[0]))


FusionFn = Callable[..., Fused]
_STRATEGIES: dict[str, FusionFn] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register_strategy(name: str, description: str) -> Callable[[FusionFn], FusionFn]:
    """Decorator: register a fusion function under `name`."""

    def wrap(fn: FusionFn) -> FusionFn:
        _STRATEGIES[name] = fn
        _DESCRIPTIONS[name] = description
        return fn

    return wrap


def list_strategies() -> dict[str, str]:
    """Registered strategy names with a one-line description each."""
    return dict(_DESCRIPTIONS)


def get_strategy(name: str) -> FusionFn:
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown fusion strategy {name!r}. Available: {', '.join(sorted(_STRATEGIES))}"
        ) from None


def fuse(
    sims: np.ndarray, avail: np.ndarray, weights: Weights, *, strategy: str = "weighted", **params: float
) -> Fused:
    """Fuse similarities (n, M) float with availability (n, M) bool under `strategy`."""
    sims = np.asarray(sims, dtype=np.float32)
    avail = np.asarray(avail, dtype=bool)
    if sims.ndim != 2 or sims.shape[1] != len(MODALITIES) or avail.shape != sims.shape:
        raise FusionError(
            f"sims {sims.shape} and avail {avail.shape} must both be (n, {len(MODALITIES)})"
        )
    fn = get_strategy(strategy)
    return fn(np.where(avail, sims, np.float32(0)), avail, weights.as_array(), **params)


def item_weights(avail: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-item weights (n, M): w zeroed where unavailable, renormalised to sum 1 (or all 0)."""
    wa = np.where(avail, w[None, :], 0.0)
    total = wa.sum(axis=1, keepdims=True)
    return np.divide(wa, total, out=np.zeros_like(wa), where=total > 0)


def _result(contrib: np.ndarray, valid: np.ndarray) -> Fused:
    contrib = np.where(valid[:, None], contrib, 0.0).astype(np.float32)
    return Fused(scores=contrib.sum(axis=1), valid=valid, contributions_of=lambda rows: contrib[rows])


@register_strategy("weighted", "weighted average of cosine similarities (early fusion x_f = sum w_m f_m)")
def weighted(sims: np.ndarray, avail: np.ndarray, w: np.ndarray) -> Fused:
    # sims are zero where unavailable, so scores are two (n, M) @ (M,) products: the hot path
    w = w.astype(np.float32)
    denom = avail.astype(np.float32) @ w
    valid = denom > 0
    safe = np.where(valid, denom, np.float32(1))
    scores = np.where(valid, (sims @ w) / safe, np.float32(0))

    def contributions_of(rows: np.ndarray) -> np.ndarray:
        return np.where(valid[rows, None], sims[rows] * w[None, :] / safe[rows, None], np.float32(0))

    return Fused(scores=scores, valid=valid, contributions_of=contributions_of)


@register_strategy("late", "late score fusion: each modality min-max normalised over the candidates, then weighted")
def late(sims: np.ndarray, avail: np.ndarray, w: np.ndarray) -> Fused:
    normed = np.zeros_like(sims)
    for m in range(sims.shape[1]):
        col = sims[avail[:, m], m]
        if col.size:
            lo, span = col.min(), col.max() - col.min()
            normed[:, m] = (sims[:, m] - lo) / span if span > 0 else 1.0
    wi = item_weights(avail, w)
    return _result(wi * normed, wi.sum(axis=1) > 0)


@register_strategy("max", "max pooling: the best weighted modality decides (weights scaled so the largest is 1)")
def max_pool(sims: np.ndarray, avail: np.ndarray, w: np.ndarray) -> Fused:
    if w.max() <= 0:
        raise FusionError("max pooling needs at least one weight > 0")
    usable = avail & (w[None, :] > 0)
    scaled = np.where(usable, sims * (w / w.max())[None, :], -np.inf)
    best = scaled.argmax(axis=1)
    valid = usable.any(axis=1)
    contrib = np.zeros_like(sims)
    rows = np.arange(sims.shape[0])
    contrib[rows, best] = np.where(valid, scaled[rows, best], 0.0)
    return _result(contrib, valid)


@register_strategy("attention", "attention: softmax over modalities of sim/temperature, times weights")
def attention(sims: np.ndarray, avail: np.ndarray, w: np.ndarray, *, temperature: float = 0.1) -> Fused:
    if not temperature > 0:
        raise FusionError(f"attention temperature={temperature!r} must be > 0")
    return _attend(sims, avail, w, sims / temperature)


def _attend(sims: np.ndarray, avail: np.ndarray, w: np.ndarray, logits: np.ndarray) -> Fused:
    """att_m = w_m exp(logit_m) / Σ over the usable modalities (softmax, stabilised); score = Σ att_m s_m."""
    usable = avail & (w[None, :] > 0)
    logits = np.where(usable, logits, -np.inf)
    top = np.max(logits, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    att = np.where(usable, w[None, :] * np.exp(logits - top), 0.0)
    total = att.sum(axis=1, keepdims=True)
    att = np.divide(att, total, out=np.zeros_like(att), where=total > 0)
    return _result(att * sims, usable.any(axis=1))


LEARNED_PARAMS = tuple(f"{kind}_{m}" for kind in ("scale", "bias") for m in MODALITIES)


@register_strategy("learned", "learned attention: softmax over modalities of scale_m*sim + bias_m, times weights "
                              "(fit with `tune --fusion learned`; the defaults are attention's)")
def learned(sims: np.ndarray, avail: np.ndarray, w: np.ndarray, **params: float) -> Fused:
    """Attention whose modality weights depend on the query and the item through a learned scale and bias per
    modality: att_m = w_m exp(scale_m s_m + bias_m) / Σ over the usable modalities; score = Σ att_m s_m.
    The defaults (scale 10, bias 0) are attention at temperature 0.1."""
    unknown = set(params) - set(LEARNED_PARAMS)
    if unknown:
        raise FusionError(f"learned fusion has no parameter {sorted(unknown)}; it takes {', '.join(LEARNED_PARAMS)}")
    scale = np.array([params.get(f"scale_{m}", 10.0) for m in MODALITIES], np.float32)
    bias = np.array([params.get(f"bias_{m}", 0.0) for m in MODALITIES], np.float32)
    return _attend(sims, avail, w, sims * scale[None, :] + bias[None, :])


@register_strategy("rrf", "reciprocal rank fusion: sum of w_m / (k + rank_m) over the candidates")
def rrf(sims: np.ndarray, avail: np.ndarray, w: np.ndarray, *, k: float = 60.0) -> Fused:
    if not k >= 0:
        raise FusionError(f"rrf k={k!r} must be >= 0")
    n, n_mod = sims.shape
    ranks = np.full((n, n_mod), np.inf)
    for m in range(n_mod):
        rows = np.flatnonzero(avail[:, m])
        order = rows[np.argsort(-sims[rows, m], kind="stable")]
        ranks[order, m] = np.arange(1, order.size + 1)
    wi = item_weights(avail, w)
    contrib = np.where(wi > 0, wi / (k + ranks), 0.0)
    return _result(contrib, wi.sum(axis=1) > 0)


def top_k(scores: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """Row indices (k',) of the k best valid scores, best first; ties broken by row order."""
    if k < 1:
        raise FusionError(f"k={k!r} must be >= 1")
    rows = np.flatnonzero(valid)
    if rows.size > k:  # every row tied with the k-th score stays in, so the tie goes to the earlier row
        kth = scores[rows[np.argpartition(-scores[rows], k - 1)[k - 1]]]
        rows = rows[scores[rows] >= kth]
    order = np.lexsort((rows, -scores[rows]))
    return rows[order[:k]]
