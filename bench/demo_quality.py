"""Retrieval quality on the demo catalog with the store's encoders.

- caption -> image: each caption as a text query against the items' images only (alpha = 1),
  its own stamp relevant: Recall@1/5/10, MRR (and the same at alpha = 0, text against text,
  and fused at alpha = 0.5, for reference), with the random baseline.
- sound -> sound: each clip as an audio query against the other clips: precision@5 of results in
  the same top-level category, against the share expected by chance.
Usage: python bench/demo_quality.py [--store .mmrec/stores/demo]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core.insight import alpha_sweep, encode_queries, load_qrels, load_queries  # noqa: E402
from mmrec_core.retrieval import Weights  # noqa: E402
from mmrec_core.query import Engine, Query  # noqa: E402
from mmrec_core.retrieval import rank  # noqa: E402
from mmrec_core.store import open_store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", default=str(ROOT / ".mmrec" / "stores" / "demo"))
    args = parser.parse_args()
    engine = Engine(open_store(args.store))
    demo = ROOT / "assets" / "demo"
    queries, qrels = load_queries(demo / "queries.csv"), load_qrels(demo / "qrels.csv")
    cands = encode_queries(engine, queries)
    n = len(engine.store.items)
    print(f"caption -> item, {len(queries)} queries over {n} items (random: R@10 = {10 / n:.4f}, MRR ~ {sum(1 / r for r in range(1, n + 1)) / n:.4f})")
    for row in alpha_sweep(engine, queries, qrels, [0.0, 0.25, 0.5, 0.75, 1.0], candidates=cands):
        print("  alpha={alpha:.2f}  R@1={recall@1:.4f}  R@5={recall@5:.4f}  R@10={recall@10:.4f}  "
              "NDCG@10={ndcg@10:.4f}  MRR={mrr:.4f}".format(**row))
    items = engine.store.items
    cat = [it["metadata"].get("category") or (it["tags"] or ["?"])[0] for it in items]
    with_audio = [i for i, it in enumerate(items) if it["audio"]]
    counts = Counter(cat[i] for i in with_audio)
    chance = sum(counts[cat[i]] - 1 for i in with_audio) / sum(len(with_audio) - 1 for _ in with_audio)
    precisions = []
    for i in with_audio:
        ranking = rank(engine.candidates(Query(items=(items[i]["id"],))), Weights(0, 0, 1), k=5)
        precisions.append(sum(cat[r] == cat[i] for r in ranking.rows) / 5)
    print(f"sound -> sound, {len(with_audio)} clips: same-category precision@5 = {sum(precisions) / len(precisions):.4f} "
          f"(chance {chance:.4f})")


if __name__ == "__main__":
    main()
