"""What a store keeps for recommendations: its interactions file and trained models; training and evaluation on them.

STORE/interactions.csv holds the store's interactions (put there by an upload or a data-set builder);
a catalog folder's own interactions.csv is used when the store has none. Trained models live in
STORE/models/ (see mmrec_core.recommend). Everything here is plain Python, for the dashboard and tests alike.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from mmrec_core.recs._interactions import InteractionsError, LoadReport, load_interactions
from mmrec_core.recs._models import ModelError, list_models
from mmrec_core.recs._models.base import Progress, no_progress
from mmrec_core.recs._models.blend import DEFAULT_MIX, Blend
from mmrec_core.recs._recommend import MODELS_DIR, RecEngine, TrainedModel
from mmrec_core.retrieval import Weights
from mmrec_core.store import Store

INTERACTIONS_FILE = "interactions.csv"
EVAL_MODELS = ("popularity", "itemknn", "content", "hybrid")


def interactions_path(store: Store) -> Path | None:
    """STORE/interactions.csv, else the source catalog folder's interactions.csv, else None."""
    own = store.path / INTERACTIONS_FILE
    if own.is_file():
        return own
    theirs = store.source / INTERACTIONS_FILE if store.source else None
    return theirs if theirs is not None and theirs.is_file() else None


def load_store_interactions(store: Store) -> LoadReport | None:
    """The store's interactions against its current items (bad rows reported), or None when it has none."""
    path = interactions_path(store)
    return None if path is None else load_interactions(path, store.ids)


def attach_interactions(store: Store, data: bytes) -> LoadReport:
    """Check an uploaded interactions CSV against the store and keep it as STORE/interactions.csv.

    Bad rows are reported in the LoadReport and skipped. InteractionsError (nothing is kept) when the
    file cannot be read, lacks user_id/item_id, or no row is usable (then its `report` holds the bad rows).
    """
    fd, tmp = tempfile.mkstemp(prefix=".interactions-", suffix=".csv", dir=store.path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        report = load_interactions(tmp, store.ids)
        if len(report.interactions) == 0:
            reasons = ", ".join(f"{k} ({v})" for k, v in report.reasons.items()) or "the file has no rows"
            exc = InteractionsError(f"no usable interaction in the file: {len(report.bad_rows)} bad row(s): {reasons}")
            exc.report = report  # type: ignore[attr-defined]  # for the caller's table of bad rows
            raise exc
        os.replace(tmp, store.path / INTERACTIONS_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return report


def bad_rows_table(report: LoadReport, *, limit: int = 500) -> list[dict[str, Any]]:
    """The first `limit` skipped rows as records (line, user_id, item_id, reason)."""
    return [{"line": b.line, "user_id": b.user_id, "item_id": b.item_id, "reason": b.reason}
            for b in report.bad_rows[:limit]]


def trained_models(store: Store) -> dict[str, dict[str, Any]]:
    """Model name -> the meta.json of each model saved with the store (trained when, seconds, interactions...)."""
    out = {}
    for meta in sorted((store.path / MODELS_DIR).glob("*/meta.json")):
        try:
            out[meta.parent.name] = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
    return out


def models_stamp(store: Store) -> str:
    """Changes whenever a model is (re)trained: a cache key for the loaded models, with the store version."""
    return "|".join(f"{name}@{meta.get('trained')}" for name, meta in trained_models(store).items())


def blend_parts(models: Sequence[str]) -> list[str]:
    """The models a blend picked with `models` combines: the others picked, or all of DEFAULT_MIX's if none."""
    return [m for m in models if m != "blend"] or list(DEFAULT_MIX)


def fit_order(models: Sequence[str]) -> list[str]:
    """The models `train` fits, in order: those picked (a blend by way of its parts), each once."""
    parts = blend_parts(models) if "blend" in models else []
    return list(dict.fromkeys([m for m in models if m != "blend"] + parts))


def learned_weights(engine: RecEngine, model: str) -> Weights | None:
    """The modality weights a trained model learned (the hybrid does), else None."""
    trained = engine.trained.get(model)
    return getattr(trained.model, "learned", None) if trained is not None else None


def hybrid_configs(*, epochs: int, seed: int) -> dict[str, Any]:
    """Per-model options for the hybrid (also when inside a blend)."""
    hybrid = {"epochs": int(epochs), "seed": int(seed)}
    return {"hybrid": hybrid, "blend": {"configs": {"hybrid": hybrid}}}


def train(store: Store, report: LoadReport, models: Sequence[str], *, epochs: int = 30, seed: int = 0,
          progress: Progress = no_progress) -> RecEngine:
    """Fit the named models on the store's interactions and save them with the store; returns the engine.

    A blend reuses its fitted parts (they are fitted once, and saved as models of their own too).
    progress(stage, done, total): stages 'NAME:epoch', 'NAME:neighbours', ... as the models report them.
    """
    unknown = [m for m in models if m not in list_models()]
    if not models or unknown:
        raise ModelError(f"pick models among {', '.join(list_models())}; got {list(models)}")
    inter = report.interactions
    engine = RecEngine.fit(store, inter, fit_order(models), configs=hybrid_configs(epochs=epochs, seed=seed), progress=progress)
    trained = dict(engine.trained)
    if "blend" in models:
        parts = blend_parts(models)
        blend = Blend.of(store, {n: trained[n].model for n in parts})
        meta = {"seconds": round(sum(trained[n].meta["seconds"] for n in parts), 3),
                "trained": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        trained["blend"] = TrainedModel(blend, inter, meta)
    engine = RecEngine(store, trained)
    engine.save()
    return engine


def evaluate(store: Store, report: LoadReport, models: Sequence[str], *, how: str = "temporal", k: int = 10,
             seed: int = 0, epochs: int = 30, cold_items: float = 0.0,
             progress: Progress = no_progress) -> list[dict[str, Any]]:
    """Split the interactions (seeded), fit each model on the training part, score it: one row per model.

    Columns: model, recall@K, ndcg@K, mrr, coverage@K, novelty@K, users, then the same metrics on the users
    whose held-out items are cold (unseen in training; cold_items > 0 withdraws that share of items), fit seconds.
    """
    from mmrec_core.recs._evaluate import evaluate_models, split_interactions, table

    if not models:
        raise ModelError(f"pick models to evaluate among {', '.join(list_models())}")
    split = split_interactions(report.interactions, how=how, seed=seed, cold_items=cold_items)
    rows = evaluate_models(store, split, list(models), k=k, configs=hybrid_configs(epochs=epochs, seed=seed),
                           progress=progress)
    return table(rows)


def cold_start_explanation(model: str, *, who: str, n_users: int) -> str:
    """What an empty history gets from `model`, and why; `who` starts the sentence ('You have', 'User 7 has')."""
    shown = {
        "hybrid": "ranked by the hybrid's learned item biases, which follow popularity",
        "blend": "ranked by the blend, where only popularity and the hybrid's learned item biases (which follow "
                 "popularity) have anything to say yet",
        "popularity": f"the items most interacted with by the {n_users:,} users",
    }.get(model, f"the items most interacted with by the {n_users:,} users, since {model} needs a liked item to start from")
    return (f"{who} no likes yet, so there is nothing personal to go on: these are {shown}. "
            "Like any item and the recommendations change at once, without retraining.")


def score_explanation(model: str) -> str:
    """How a model's scores split into the parts shown in the contribution chart."""
    return {
        "blend": "Each bar is a result's blended score split into the exact share of each model: every model's scores are "
                 "min-max normalised over the candidates and weighted by its slider (the shares add up to the score).",
        "hybrid": "Each bar is a result's score split into its content parts (text, image, audio projected by the hybrid) "
                  "and its collaborative part (learned item factors and bias); the parts add up to the score.",
        "content": "Each bar is a result's fused similarity to your liked items split per modality (it adds up to the score).",
    }.get(model, f"{model} gives one score per item, shown as one part.")


def result_tables(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """evaluate() rows split in two tables: all test users, and users whose held-out items are cold (empty if none)."""
    main = [{k: v for k, v in r.items() if not k.startswith("cold_")} for r in rows]
    cold = [{"model": r["model"], **{k: v for k, v in r.items() if k.startswith("cold_")}}
            for r in rows if r.get("cold_users")]
    return main, cold
