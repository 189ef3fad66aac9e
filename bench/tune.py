"""Fitted fusion weights against the default weights and the best single modality, held out, per strategy.

Two protocols on a store's judged queries (default: the demo's 950 captions): 5-fold cross-validation
over queries, and fitting on a seeded half then scoring on the other half. Times the one-off query
encoding apart from the fitting (which only re-ranks kept candidates). Prints one JSON line per strategy.
Usage: python bench/tune.py [--store DIR --queries Q.csv --qrels R.csv] [--metric ndcg@10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core import insight as tune  # noqa: E402
from mmrec_core.insight import encode_queries, load_qrels, load_queries  # noqa: E402
from mmrec_core.retrieval import MODALITIES, Weights, list_strategies  # noqa: E402
from mmrec_core.ingest import ingest  # noqa: E402
from mmrec_core.query import Engine  # noqa: E402
from mmrec_core.store import open_store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", help="a store folder (default: the demo, built from its shipped embeddings)")
    parser.add_argument("--queries", default=str(ROOT / "assets" / "demo" / "queries.csv"))
    parser.add_argument("--qrels", default=str(ROOT / "assets" / "demo" / "qrels.csv"))
    parser.add_argument("--metric", default="ndcg@10")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(args.store) if args.store else ingest(ROOT / "assets" / "demo", Path(tmp) / "demo").store
        engine = Engine(store)
        t = time.perf_counter()
        cands = encode_queries(engine, load_queries(args.queries))
        encode_s = time.perf_counter() - t
        judged = tune.prepare(store.ids, cands, load_qrels(args.qrels), k=tune.parse_metric(args.metric)[1])
        kind, k = tune.parse_metric(args.metric)
        halves = np.random.default_rng(1).permutation(len(judged))
        a, b = halves[: len(judged) // 2], halves[len(judged) // 2:]
        print(json.dumps({"bench": "encode", "queries": len(judged), "seconds": round(encode_s, 2)}))
        learned = tune.fit_learned(judged, metric=args.metric)
        half_learned = tune.fit_learned([judged[i] for i in a], metric=args.metric)
        on_b_learned = float(tune.per_query([judged[i] for i in b], half_learned.weights.as_array(), strategy="learned",
                                            metric=kind, k=k, params=half_learned.params).mean())
        print(json.dumps({"bench": "tune", "fusion": "learned", "metric": learned.metric,
                          "cv": {"fitted": round(learned.heldout, 4), "default": round(learned.default, 4),
                                 "insample": round(learned.insample, 4), "params": learned.params,
                                 "fit_s": round(learned.seconds, 2)},
                          "half": {"fitted": round(on_b_learned, 4), "fit_s": round(half_learned.seconds, 2)}}))
        for name in sorted(s for s in list_strategies() if s != "learned"):
            cv = tune.fit(judged, strategy=name, metric=args.metric)
            half = tune.fit([judged[i] for i in a], strategy=name, metric=args.metric)
            t_ref = tune.DEFAULT_TEMPERATURE if name == "attention" else None

            def on_b(w: Weights, temperature: float | None) -> float:
                return float(tune.per_query([judged[i] for i in b], w.as_array(), strategy=name, metric=kind, k=k,
                                            temperature=temperature).mean())

            singles_b = {m: on_b(Weights(**{x: float(x == m) for x in MODALITIES}), t_ref) for m in half.per_modality}
            print(json.dumps({
                "bench": "tune", "fusion": name, "metric": cv.metric,
                "cv": {"fitted": round(cv.heldout, 4), "default": round(cv.default, 4),
                       "best_single": round(max(cv.per_modality.values()), 4), "insample": round(cv.insample, 4),
                       "weights": cv.weights.as_dict(), **({"temperature": cv.temperature} if cv.temperature else {}),
                       "settings": cv.settings, "fit_s": round(cv.seconds, 2)},
                "half": {"fitted": round(on_b(half.weights, half.temperature), 4), "default": round(on_b(Weights(), t_ref), 4),
                         "best_single": round(max(singles_b.values()), 4), "weights": half.weights.as_dict(),
                         "fit_s": round(half.seconds, 2)},
            }))


if __name__ == "__main__":
    main()
