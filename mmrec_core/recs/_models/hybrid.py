"""Hybrid model M: VBPR-style BPR on fused multimodal features, with likes folded in at once.

Item i is represented by r_i = g_i Σ_m w_im E_m x_im + γ_i with x_im the store's embeddings, E_m a
learned projection per modality, w_im the modality weights renormalised over the modalities item i
has (as in fusion; learned in training by default), g_i = c / (c + n_i) a content gate that hands a
well-seen item over to its learned factor γ_i (an unseen item keeps g = 1), and score = b_i + u·r_i.
Training learns E, γ, b, the modality weights and a vector per training user with BPR, seeded.

Real time, no retraining: a history's user vector is the learned one plus the change that the
closed-form (implicit-ALS) fold-in sees between the training history and the current one, so a
like or an upload moves it at once; a user unseen in training gets the fold-in alone. A weight
change re-fuses the representations at scoring time. An item without interactions keeps γ = 0
and the median bias: it is reached through its content.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np

from mmrec_core.recs._interactions import Interactions
from mmrec_core.recs._models.base import (History, ModelError, Progress, Scored, no_progress, recency_weights,
                                          register_model, remap_items)
from mmrec_core.retrieval import MODALITIES, Weights, item_weights
from mmrec_core.store import Store

PARTS = (*MODALITIES, "collaborative")
TRAIN_THREADS = 1  # BPR on 2 cores: 1 thread 47 s, 2 threads 37 s when idle, but 42 s against 123 s with one core busy


@dataclass(frozen=True)
class HybridConfig:
    dim: int = 64
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 0.005
    reg: float = 1e-4  # L2 on user/item factors and biases, per pair
    # L2 on the items' projected content (Σ_m w_im E_m x_im), per pair. On ML-100K (weak text content) 0.1 lifts
    # temporal Recall@10 from 0.1145 to 0.1432, but it shrinks what content alone can reach: new items and
    # new users with uploads (the planted-preference tests fail from 0.01 on). Off by default.
    content_reg: float = 0.0
    # Content gate c: an item's projected content is scaled by c / (c + n_i), n_i its training interactions, so
    # well-seen items are carried by their learned factor and unseen ones (n_i = 0) keep all their content.
    # 0 turns the gate off. 10 was chosen on ML-100K's validation split (validation NDCG@10: off 0.063, 2 0.0693,
    # 10 0.0695, 50 0.0663); on its test split it gives 0.0721 (off: 0.0615).
    content_gate: float = 10.0
    # Learn the modality weights (a softmax over the modalities an item has, started from `weights`) with the
    # rest; scoring then uses the learned ones unless weights are given. Off: `weights` as set, fixed.
    learn_weights: bool = True
    weights: Weights = Weights()
    seed: int = 0
    fold_in_reg: float = 1.0  # ridge λ of the fold-in
    fold_in_negative: float = 0.02  # weight of every catalog item as a weak negative in the fold-in
    half_life: float = 0.0  # recency weighting of the history in the fold-in (0: all alike)


@register_model("hybrid", "VBPR-style: fused multimodal embeddings projected + item factors, BPR-trained (default)")
class Hybrid:
    name = "hybrid"
    config_class = HybridConfig

    def __init__(self, store: Store, config: HybridConfig = HybridConfig()) -> None:
        if config.dim < 1 or config.epochs < 0 or config.batch_size < 1 or not config.lr > 0:
            raise ModelError(f"hybrid config {config} needs dim >= 1, epochs >= 0, batch_size >= 1 and lr > 0")
        self.store, self.config = store, config
        self.proj: dict[str, np.ndarray] | None = None  # modality -> float32 (d_m, dim)
        self.gamma = self.bias = None  # float32 (n, dim), (n,)
        self.gate: np.ndarray | None = None  # float32 (n,): the content share of each item (1 for unseen items)
        self.learned: Weights | None = None  # the modality weights training settled on (learn_weights)
        self.users: np.ndarray | None = None  # float32 (n_train_users, dim), learned
        self.train: Interactions | None = None  # the users' training histories, the fold-in's baseline
        self.target = 0.0  # τ: the mean training score of a positive pair
        self._reps: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def _modalities(self) -> list[str]:
        present = self.store.present
        return [m for j, m in enumerate(MODALITIES) if self.store.embeddings[m].shape[1] and present[:, j].any()]

    def _item_weights(self, weights: Weights, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return item_weights(self.store.present[rows], weights.as_array()).astype(np.float32)

    def fit(self, train: Interactions, *, progress: Progress = no_progress) -> None:
        """BPR on the items with interactions (negatives drawn among them too, so unseen content is not
        learnt as bad); items without interactions get γ = 0 and the median bias."""
        seen = np.unique(train.rows)
        if seen.size < 2:
            raise ModelError(f"hybrid needs interactions on at least 2 items, got {seen.size}")
        feats = {m: np.array(self.store.embeddings[m][seen], dtype=np.float32) for m in self._modalities()}
        local = np.searchsorted(seen, train.rows)
        gate_seen = content_gate(np.bincount(local, minlength=seen.size), self.config.content_gate)
        with _torch_threads(TRAIN_THREADS):
            proj, gamma, bias, users, learned = _train_bpr(self.config, feats, self.store.present[seen],
                                                           train.users, local, train.n_users, progress, gate_seen)
        n = len(self.store.items)
        self.gate = np.ones(n, np.float32)
        self.gate[seen] = gate_seen
        self.proj = proj
        self.gamma = np.zeros((n, self.config.dim), np.float32)
        self.gamma[seen] = gamma
        self.bias = np.full(n, float(np.median(bias)), np.float32)
        self.bias[seen] = bias
        self.users, self.train = users, train
        self.learned = learned
        self._reps.clear()
        reps, _ = self.representations()
        self.target = float(np.mean(self.bias[train.rows] + np.einsum("ij,ij->i", reps[train.rows], users[train.users])))

    @property
    def weights(self) -> Weights:
        """The modality weights used when none are given: the learned ones, else the configured ones."""
        return self.learned or self.config.weights

    def representations(self, weights: Weights | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Item representations R float32 (n, dim) under these weights, and the fold-in Gram R^T R (dim, dim)."""
        if self.proj is None:
            raise ModelError("model 'hybrid' is not trained: fit it on interactions (or load a trained one) first")
        w = weights or self.weights
        key = tuple(w.as_array().tolist())
        with self._lock:
            if key not in self._reps:
                reps = self.gamma.copy()
                wi = self._item_weights(w) * self.gate[:, None]
                for j, m in enumerate(MODALITIES):
                    if m in self.proj:
                        reps += wi[:, j : j + 1] * (self.store.vectors(m, slice(None)) @ self.proj[m])
                if len(self._reps) >= 4:
                    self._reps.pop(next(iter(self._reps)))
                self._reps[key] = (reps, (reps.T @ reps).astype(np.float64))
            return self._reps[key]

    def user_vector(self, history: History, *, weights: Weights | None = None) -> np.ndarray:
        """float64 (dim,): the learned vector of history.user_id moved by fold_in(history) - fold_in(training history);
        fold_in(history) alone for a user unseen in training (zero for an empty history)."""
        u = None if self.train is None or history.user_id is None else self.train.user_index(history.user_id)
        if u is None or self.users is None:
            return self.fold_in(history, weights=weights)
        base = History(tuple(int(r) for r in self.train.user_rows(u)))
        learned = self.users[u].astype(np.float64)
        if history.rows == base.rows and not history.uploads:
            return learned
        return learned + self.fold_in(history, weights=weights) - self.fold_in(base, weights=weights)

    def fold_in(self, history: History, *, weights: Weights | None = None) -> np.ndarray:
        """Closed form, float64 (dim,): argmin_u Σ_h c_h (τ - b_h - r_h·u)² + β Σ_all (r_j·u)² + λ ρ |u|².

        τ is the mean training score of a positive, so liked items are asked to score like one; c_h
        are recency weights, ρ the mean |r_j|² (λ is scale-free), b_h of an upload the median bias.
        """
        w = weights or self.weights
        reps, gram = self.representations(w)
        r = [reps[list(history.rows)]]
        b = [self.bias[list(history.rows)]]
        c = [recency_weights(len(history.rows), self.config.half_life)]
        ups = [rep for rep in (self._upload_rep(u, w) for u in history.uploads) if rep is not None]
        if ups:
            r.append(np.stack(ups))
            b.append(np.full(len(ups), np.median(self.bias)))
            c.append(np.ones(len(ups)))
        r_all, conf = np.concatenate(r).astype(np.float64), np.concatenate(c)
        if not r_all.shape[0]:
            return np.zeros(self.config.dim)
        target = float(self.target) - np.concatenate(b).astype(np.float64)
        rho = np.trace(gram) / reps.shape[0]
        a = (r_all.T * conf) @ r_all + self.config.fold_in_negative * gram + self.config.fold_in_reg * rho * np.eye(r_all.shape[1])
        return np.linalg.solve(a, r_all.T @ (conf * target))

    def _upload_rep(self, vectors, weights: Weights) -> np.ndarray | None:
        """An uploaded medium as an item without interactions: Σ_m w_m E_m x_m over its modalities."""
        w = weights.as_array()
        have = [(j, m) for j, m in enumerate(MODALITIES) if m in self.proj and vectors.get(m) is not None
                and vectors.get(m).shape == (self.proj[m].shape[0],) and w[j] > 0]
        total = sum(w[j] for j, _ in have)
        if not have or total <= 0:
            return None
        return sum(w[j] / total * (np.asarray(vectors.get(m), np.float32) @ self.proj[m]) for j, m in have)

    def score(self, history: History, *, weights: Weights | None = None,
              mix: Mapping[str, float] | None = None) -> Scored:
        w = weights or self.weights
        reps, _ = self.representations(w)
        u = self.user_vector(history, weights=w).astype(np.float32)
        scores = (self.bias + reps @ u).astype(np.float32)

        def contributions_of(rows: np.ndarray) -> np.ndarray:
            rows = np.asarray(rows, dtype=np.int64)
            wi = self._item_weights(w, rows) * self.gate[rows, None]
            out = np.zeros((rows.size, len(PARTS)), np.float32)
            for j, m in enumerate(MODALITIES):
                if m in self.proj:
                    out[:, j] = wi[:, j] * ((self.store.vectors(m, rows) @ self.proj[m]) @ u)
            out[:, -1] = self.bias[rows] + self.gamma[rows] @ u
            return out

        return Scored(scores, np.ones(scores.shape, bool), PARTS, contributions_of)

    def arrays(self) -> dict[str, np.ndarray]:
        if self.proj is None:
            raise ModelError("model 'hybrid' is not trained: nothing to save")
        learned = self.learned.as_array() if self.learned else np.zeros(0, np.float32)
        return {"gamma": self.gamma, "bias": self.bias, "gate": self.gate, "users": self.users, "target": np.array([self.target]),
                "learned_weights": learned,
                **{f"proj_{m}": p for m, p in self.proj.items()}}

    def load_arrays(self, arrays: Mapping[str, np.ndarray], old_to_new: np.ndarray, train: Interactions) -> None:
        n = len(self.store.items)
        proj = {m: np.asarray(arrays[f"proj_{m}"], np.float32) for m in MODALITIES if f"proj_{m}" in arrays}
        for m, p in proj.items():
            d = self.store.embeddings[m].shape[1]
            if p.shape != (d, self.config.dim):
                raise ModelError(f"saved hybrid projects {m} from {p.shape[0]} dims; this store's {m} has {d}: retrain")
        bias = np.asarray(arrays["bias"], np.float32)
        self.proj = proj
        self.gamma = remap_items(np.asarray(arrays["gamma"], np.float32), old_to_new, n)
        self.bias = remap_items(bias, old_to_new, n, fill=float(np.median(bias)) if bias.size else 0.0)
        gate = np.asarray(arrays["gate"], np.float32) if "gate" in arrays else np.ones(bias.shape, np.float32)  # saved before gates
        self.gate = remap_items(gate, old_to_new, n, fill=1.0)
        self.users = np.asarray(arrays["users"], np.float32)
        self.target = float(arrays["target"][0])
        learned = np.asarray(arrays.get("learned_weights", np.zeros(0)), np.float32)
        self.learned = Weights(*map(float, learned)) if learned.size == len(MODALITIES) else None
        if self.users.shape[0] != train.n_users:
            raise ModelError(f"saved hybrid has {self.users.shape[0]} user vectors for {train.n_users} users: retrain")
        self.train = train
        self._reps.clear()


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to n for the block, then restored (the encoders keep theirs)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def content_gate(counts: np.ndarray, c: float) -> np.ndarray:
    """float32 (n,): c / (c + count) per item, or ones when the gate is off (c <= 0)."""
    counts = np.asarray(counts, np.float32)
    return np.ones_like(counts) if c <= 0 else (c / (c + counts)).astype(np.float32)


def _train_bpr(cfg: HybridConfig, feats: Mapping[str, np.ndarray], present: np.ndarray, users: np.ndarray,
               items: np.ndarray, n_users: int, progress: Progress, gate: np.ndarray):
    """Seeded BPR with Adam over (user, item) pairs; items are local indices into feats' rows; present (n_seen, M).

    Returns numpy float32: projections {m: (d_m, dim)}, γ (n_seen, dim), b (n_seen,), user vectors (n_users, dim),
    and the learned modality weights (None unless cfg.learn_weights).
    """
    import torch

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    n_items, k = present.shape[0], cfg.dim
    x = {m: torch.from_numpy(f) for m, f in feats.items()}
    # a modality takes part if the item has it, the store has features for it and its configured weight is > 0
    # (weights 0 everywhere: no content at all, the model is BPR-MF); learning moves weight among those taking part
    mask = torch.from_numpy(present & np.array([m in feats and w > 0 for m, w in zip(MODALITIES, cfg.weights.as_array())])[None, :])
    start = np.log(np.clip(cfg.weights.as_array(), 1e-3, None))
    theta = torch.nn.Parameter(torch.from_numpy(start.astype(np.float32)), requires_grad=cfg.learn_weights)
    g = torch.from_numpy(gate)[:, None]  # the gate scales every modality's share of an item's content

    def item_w(idx: torch.Tensor) -> torch.Tensor:
        """Softmax of theta over each item's modalities (as fusion renormalises weights), times its gate."""
        e = torch.where(mask[idx], torch.exp(theta)[None, :], torch.zeros(()))
        return e / e.sum(1, keepdim=True).clamp_min(1e-12) * g[idx]
    proj = {m: torch.nn.Parameter(torch.randn(f.shape[1], k) * 0.01) for m, f in x.items()}
    gamma = torch.nn.Parameter(torch.randn(n_items, k) * 0.01)
    bias = torch.nn.Parameter(torch.zeros(n_items))
    user = torch.nn.Parameter(torch.randn(n_users, k) * 0.01)
    opt = torch.optim.Adam([*proj.values(), gamma, bias, user, *([theta] if cfg.learn_weights else [])], lr=cfg.lr)
    codes = np.sort(users * n_items + items)

    def content(idx: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(idx.shape[0], k)
        wi = item_w(idx)
        for j, m in enumerate(MODALITIES):
            if m in proj:
                out = out + wi[:, j : j + 1] * (x[m][idx] @ proj[m])
        return out

    for epoch in range(cfg.epochs):
        order = rng.permutation(users.size)
        for start in range(0, order.size, cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            neg = _negatives(rng, users[batch], n_items, codes)
            u, i, j = (torch.from_numpy(a) for a in (users[batch], items[batch], neg))
            uu, ci, cj = user[u], content(i), content(j)
            margin = (uu * (gamma[i] + ci - gamma[j] - cj)).sum(1) + bias[i] - bias[j]
            penalty = uu.pow(2).sum(1) + gamma[i].pow(2).sum(1) + gamma[j].pow(2).sum(1) + bias[i].pow(2) + bias[j].pow(2)
            loss = (torch.nn.functional.softplus(-margin).mean() + cfg.reg * penalty.mean()
                    + cfg.content_reg * (ci.pow(2).sum(1) + cj.pow(2).sum(1)).mean())
            opt.zero_grad()
            loss.backward()
            opt.step()
        progress("epoch", epoch + 1, cfg.epochs)
    out = lambda p: p.detach().numpy().copy()  # noqa: E731
    learned = None
    if cfg.learn_weights:
        used = mask.any(0).numpy()
        e = np.where(used, np.exp(out(theta)), 0.0)
        learned = Weights(*(round(float(v), 4) for v in e / e.sum())) if e.sum() > 0 else None
    return {m: out(p) for m, p in proj.items()}, out(gamma), out(bias), out(user), learned


def _negatives(rng: np.random.Generator, users: np.ndarray, n_items: int, codes: np.ndarray) -> np.ndarray:
    """Uniform items per user, resampled (up to 5 times) where they hit one of the user's positives."""
    j = rng.integers(0, n_items, size=users.size)
    for _ in range(5):
        c = users * n_items + j
        pos = np.searchsorted(codes, c)
        hit = (pos < codes.size) & (codes[np.minimum(pos, codes.size - 1)] == c)
        if not hit.any():
            break
        j[hit] = rng.integers(0, n_items, size=int(hit.sum()))
    return j
