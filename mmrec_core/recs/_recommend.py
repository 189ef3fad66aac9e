"""Recommendations: models trained (or loaded) once per store, users' histories, likes that act at once.

`RecEngine` owns a store and its trained models. Rows inside, ids at the edge: `recommend` maps
the top rows to `Hit`s whose contributions split each score per modality (content, hybrid) or
per model (blend). Trained models live in STORE/models/NAME/ as JSON plus `.npz` arrays
(loaded with allow_pickle=False), together with the interactions they were trained on.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mmrec_core.query import Hit
from mmrec_core.recs._interactions import Interactions
from mmrec_core.recs._models import DEFAULT_MODEL, History, ModelError, Scored, get_model, make_model
from mmrec_core.recs._models.base import Progress, config_from_dict, config_to_dict, no_progress, single_part
from mmrec_core.retrieval import QueryVectors, Weights, top_k
from mmrec_core.store import Store

MODELS_DIR = "models"
FORMAT = "mmrec-model"
FORMAT_VERSION = 1


@dataclass
class TrainedModel:
    """A fitted model with the interactions it was trained on (for histories and exclusions)."""

    model: Any
    train: Interactions
    meta: dict[str, Any] = field(default_factory=dict)


class RecEngine:
    """Recommends on one store; every model is trained or loaded once, then shared (scoring is read-only)."""

    def __init__(self, store: Store, trained: Mapping[str, TrainedModel]) -> None:
        if not trained:
            raise ModelError("no models: train one (`train`) or load the store's trained models")
        self.store = store
        self.trained = dict(trained)

    @property
    def models(self) -> list[str]:
        return list(self.trained)

    @classmethod
    def fit(cls, store: Store, interactions: Interactions, models: Sequence[str] = (DEFAULT_MODEL,), *,
            configs: Mapping[str, Any] | None = None, progress: Progress = no_progress) -> "RecEngine":
        """Train the named models on interactions (the explicit, slow step); progress(stage, done, total)."""
        if interactions.n_items != len(store.items):
            raise ModelError(f"interactions index {interactions.n_items} items; the store holds {len(store.items)}")
        if len(interactions) == 0:
            raise ModelError("no interactions to train on")
        trained = {}
        for name in models:
            model = make_model(name, store, (configs or {}).get(name))
            start = time.perf_counter()
            model.fit(interactions, progress=lambda stage, done, total, name=name: progress(f"{name}:{stage}", done, total))
            meta = {"seconds": round(time.perf_counter() - start, 3), "trained": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            trained[name] = TrainedModel(model, interactions, meta)
        return cls(store, trained)

    @classmethod
    def load(cls, store: Store, models: Sequence[str] | None = None) -> "RecEngine":
        """Load trained models from STORE/models/ (all of them when models is None)."""
        root = store.path / MODELS_DIR
        names = list(models) if models is not None else sorted(p.name for p in root.glob("*") if (p / "meta.json").is_file())
        if not names:
            raise ModelError(f"no trained model in {root}; train one: python -m mmrec_core train --store {store.path} "
                             f"--interactions CSV --model {DEFAULT_MODEL}")
        return cls(store, {name: load_model(store, name) for name in names})

    def save(self) -> list[Path]:
        return [save_model(self.store, name, t) for name, t in self.trained.items()]

    def _get(self, model: str) -> TrainedModel:
        if model not in self.trained:
            get_model(model)  # an unknown name lists the registered ones
            raise ModelError(f"model {model!r} is not trained on this store; trained: {', '.join(self.trained)}")
        return self.trained[model]

    def users(self, model: str = DEFAULT_MODEL) -> tuple[str, ...]:
        return self._get(model).train.user_ids

    def history(self, user_id: str, *, model: str = DEFAULT_MODEL) -> History:
        """The user's training interactions, oldest first (empty for a user the model never saw)."""
        train = self._get(model).train
        u = train.user_index(user_id)
        return History(user_id=user_id) if u is None else History(tuple(int(r) for r in train.user_rows(u)), user_id=user_id)

    def like(self, history: History, item_id: str) -> History:
        """The history with one more like (newest); the next `recommend` reflects it, no retraining."""
        return history.like(self.store.row_of(item_id))

    def upload(self, history: History, vectors: QueryVectors) -> History:
        """The history with uploaded media (as Engine.vectors encodes it): a new user's first signal."""
        return history.upload(vectors)

    def scored(self, history: History, *, model: str = DEFAULT_MODEL, weights: Weights | None = None,
               mix: Mapping[str, float] | None = None) -> Scored:
        """The model's scores over the catalog; a model with nothing to go on falls back to popularity."""
        trained = self._get(model)
        s = trained.model.score(history, weights=weights, mix=mix)
        if history.is_empty and (not s.valid.any() or np.ptp(s.scores[s.valid]) == 0):
            counts = trained.train.item_counts().astype(np.float32)
            s = single_part(counts / max(float(counts.max()), 1.0), "popularity")
        return s

    def recommend(self, history: History, *, model: str = DEFAULT_MODEL, k: int = 10, weights: Weights | None = None,
                  mix: Mapping[str, float] | None = None, exclude: Sequence[str] = ()) -> list[Hit]:
        """Top-k items not in the history (nor in `exclude`), best first, with per-part contributions."""
        s = self.scored(history, model=model, weights=weights, mix=mix)
        removed = np.flatnonzero(~self.store.present.any(axis=1))  # rows an add or remove retired
        rows = self.top_rows(s, history, k=k, exclude=[*(self.store.row_of(i) for i in exclude), *removed.tolist()])
        contrib = s.contributions_of(rows)
        items = self.store.items
        return [Hit(items[r]["id"], float(s.scores[r]), {p: float(c[j]) for j, p in enumerate(s.parts)}, items[r])
                for r, c in zip(rows.tolist(), contrib)]

    def recommend_user(self, user_id: str, *, model: str = DEFAULT_MODEL, k: int = 10, **kwargs: Any) -> list[Hit]:
        """Top-k for a user of the training interactions, excluding what they interacted with."""
        return self.recommend(self.history(user_id, model=model), model=model, k=k, **kwargs)

    @staticmethod
    def top_rows(s: Scored, history: History, *, k: int, exclude: Sequence[int] = ()) -> np.ndarray:
        valid = s.valid.copy()
        valid[list(history.rows) + list(exclude)] = False
        return top_k(s.scores, valid, k)


def history_from_profile(store: Store, profile: Any) -> History:
    """A dashboard `profile.Profile` as a History: its liked items (oldest first) and uploads; dislikes are not used.

    Ids the store does not hold are skipped (a profile from another catalog version).
    """
    known = {iid: r for r, iid in enumerate(store.ids)}
    return History(rows=tuple(known[i] for i in profile.liked if i in known),
                   uploads=tuple(u.vectors for u in profile.uploads))


def model_dir(store: Store, name: str) -> Path:
    return store.path / MODELS_DIR / name


def save_model(store: Store, name: str, trained: TrainedModel) -> Path:
    """Write STORE/models/NAME/ (meta.json, items.json, users.json, arrays.npz, train.npz); replaces the old one."""
    root = store.path / MODELS_DIR
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    try:
        t = trained.train
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": name,
                "config": config_to_dict(trained.model.config), "store_version": store.version,
                "n_items": len(store.items), "interactions": len(t), "users": t.n_users, **trained.meta}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        (tmp / "items.json").write_text(json.dumps(store.ids))
        (tmp / "users.json").write_text(json.dumps(list(t.user_ids)))
        np.savez(tmp / "arrays.npz", **trained.model.arrays())
        np.savez(tmp / "train.npz", users=t.users, rows=t.rows, times=t.times, ratings=t.ratings)
        final = root / name
        old = root / f".old-{name}-{os.getpid()}"
        if final.exists():
            os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_model(store: Store, name: str) -> TrainedModel:
    """Load STORE/models/NAME/ onto the store's current items (items new since training count as cold)."""
    folder = model_dir(store, name)
    if not (folder / "meta.json").is_file():
        get_model(name)
        raise ModelError(f"no trained model {name!r} in {folder.parent}; train it: python -m mmrec_core train "
                         f"--store {store.path} --interactions CSV --model {name}")
    try:
        meta = json.loads((folder / "meta.json").read_text())
        saved_ids = json.loads((folder / "items.json").read_text())
        user_ids = tuple(json.loads((folder / "users.json").read_text()))
        with np.load(folder / "arrays.npz", allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        with np.load(folder / "train.npz", allow_pickle=False) as f:
            tr = {k: f[k] for k in f.files}
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read trained model {folder}: {exc}") from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION or meta.get("model") != name:
        raise ModelError(f"{folder} is not an mmrec {name!r} model of format v{FORMAT_VERSION}: retrain it")
    row_of = {iid: r for r, iid in enumerate(store.ids)}
    old_to_new = np.array([row_of.get(i, -1) for i in saved_ids], dtype=np.int64)
    if saved_ids and not (old_to_new >= 0).any():
        raise ModelError(f"model {name!r} was trained on other items than this store's: retrain it")
    cls = get_model(name)
    rows = old_to_new[tr["rows"]]
    keep = rows >= 0
    train = Interactions(tr["users"][keep], rows[keep], tr["times"][keep], tr["ratings"][keep], user_ids, len(store.items))
    model = cls(store, config_from_dict(cls.config_class, meta["config"]))
    model.load_arrays(arrays, old_to_new, train)
    return TrainedModel(model, train, meta)
