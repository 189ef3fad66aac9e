"""Training the learned fusion strategy: scale and bias per modality, listwise softmax loss with Adam.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mmrec_core.errors import EvaluationError
from mmrec_core.retrieval import MODALITIES, Weights

if TYPE_CHECKING:
    pass
from mmrec_core.insight._tune import as_weights
from mmrec_core.insight._tune_score import Batch, Judged, Progress, active_modalities, parse_metric


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
    batch = Batch(judged)
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
    return LearnedFit(params, as_weights(w), f"{kind}@{k}", float(heldout.mean()), insample, default, tuple(rows),
                      time.perf_counter() - start)

def _train_learned(batch: Batch, queries: np.ndarray, w: np.ndarray, *, seed: int) -> dict[str, float]:
    """Scale and bias per modality maximising the softmax likelihood of the relevant candidates."""
    import torch

    from mmrec_core.retrieval import LEARNED_PARAMS

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
