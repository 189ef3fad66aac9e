"""Recall@10 against the exact ranking, per query kind, over a grid of IVF probes and candidate depths.

On a store written by bench/scale.py (`--store DIR`), with its queries (vectors shaped like real embeddings):
for each (nprobe, depth), every kind's recall@10 of the fused top-10 against the exact fused top-10 over
every item, and the median ms of a new query. The defaults in mmrec_core/retrieval/_index.py are chosen
from this curve, with a margin over 0.95 for every kind.

Usage: python bench/ann_curve.py STORE_DIR [--nprobe 384,512,768] [--depth 1024,2048] [--queries 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(1, str(HERE))

from scale import KINDS, exact_tops, queries  # noqa: E402  (the scale benchmark's queries and exact ranking)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--nprobe", default="384,512,768")
    ap.add_argument("--depth", default="1024,2048")
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    from mmrec_core.retrieval import QueryVectors, Weights, rank
    from mmrec_core.store import open_store

    store = open_store(args.store)
    n = len(store.ids)
    qs = queries(n, "real", args.queries)
    exact = exact_tops(args.store, qs)
    retriever = store.retriever
    retriever.build_ann() if not retriever.ann else None
    base = retriever.config
    for nprobe in map(int, args.nprobe.split(",")):
        config = dataclasses.replace(base, nprobe=nprobe)
        for index in retriever.ann.values():
            index.set_params(config)
        for depth in map(int, args.depth.split(",")):
            recall, ms = {}, []
            for kind, (wt, wi) in KINDS.items():
                hits = []
                for v, want in zip(qs[kind], exact[kind]):
                    t0 = time.perf_counter()
                    cands = retriever.candidates(QueryVectors(text=v, image=v), depth=depth)
                    got = rank(cands, Weights(wt, wi, 0.0), k=10).rows.tolist()
                    ms.append((time.perf_counter() - t0) * 1000)
                    hits.append(len(set(got) & set(want)) / 10)
                recall[kind] = round(statistics.mean(hits), 4)
            print(json.dumps({"n": n, "nprobe": nprobe, "depth": depth, "recall_at_10": recall,
                              "min_recall": min(recall.values()), "query_ms": round(statistics.median(ms), 2)}),
                  flush=True)


if __name__ == "__main__":
    main()
