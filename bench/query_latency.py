"""Query latency and recall on synthetic clustered unit vectors, 3 modalities x 384-d.

For each N: build the store's retriever (auto: exact scan up to 20k rows, FAISS IVF above),
then time (a) a new query: candidates + fusion + top-10, (b) a weight change: fusion + top-10
on the kept candidates, against (c) the flat-scan bound: one exact numpy scan of all
N x 1152 floats, and (d) faiss IndexFlatIP on the same matrix. Recall@10 is against an
exhaustive fused ranking. Usage: python bench/query_latency.py [N ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmrec_core.retrieval import Weights  # noqa: E402
from mmrec_core.retrieval import IndexConfig  # noqa: E402
from mmrec_core.retrieval import QueryVectors, Retriever, rank  # noqa: E402

D = 384
MODS = ("text", "image", "audio")


def synthetic(n: int, *, clusters: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, clusters, n)
    out = {}
    for m in MODS:
        centers = rng.standard_normal((clusters, D)).astype(np.float32)
        e = np.empty((n, D), np.float32)
        for s in range(0, n, 100_000):
            block = centers[labels[s:s + 100_000]] + 0.7 * rng.standard_normal((min(100_000, n - s), D)).astype(np.float32)
            e[s:s + 100_000] = block / np.linalg.norm(block, axis=1, keepdims=True)
        out[m] = e
    return out


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best.append(time.perf_counter() - t)
    return float(np.median(best)) * 1000, result


def run(n: int, n_queries: int = 30) -> dict[str, float]:
    t = time.perf_counter()
    emb = synthetic(n)
    gen = time.perf_counter() - t
    t = time.perf_counter()
    retriever = Retriever(emb)
    retriever.build_ann()
    build = time.perf_counter() - t
    exact = Retriever(emb, config=IndexConfig(kind="flat"))
    rng = np.random.default_rng(1)
    w1, w2 = Weights(0.4, 0.4, 0.2), Weights(0.1, 0.7, 0.2)
    lat_new, lat_re, lat_exact, recalls = [], [], [], []
    for i in rng.choice(n, n_queries, replace=False):
        q = {m: emb[m][i] + 0.05 * rng.standard_normal(D).astype(np.float32) for m in MODS}
        q = {m: v / np.linalg.norm(v) for m, v in q.items()}
        qv = QueryVectors(text=q["text"], image=q["text"], audio=q["audio"])
        ms, cands = timed(lambda: retriever.candidates(qv), 1)
        ms2, ranking = timed(lambda: rank(cands, w1, k=10), 1)
        lat_new.append(ms + ms2)
        lat_re.append(timed(lambda: rank(cands, w2, k=10), 3)[0])
        ems, ecands = timed(lambda: exact.candidates(qv), 1)
        lat_exact.append(ems)
        for w in (w1, w2):
            got = set(rank(cands, w, k=10).rows.tolist())
            want = set(rank(ecands, w, k=10).rows.tolist())
            recalls.append(len(got & want) / 10)
    flat = np.concatenate([emb[m] for m in MODS], axis=1)
    qcat = np.concatenate([emb[m][0] for m in MODS])
    bound, _ = timed(lambda: np.argpartition(-(flat @ qcat), 10)[:10], 5)
    import faiss

    fidx = faiss.IndexFlatIP(flat.shape[1])
    fidx.add(flat)
    fscan, _ = timed(lambda: fidx.search(qcat[None, :], 10), 5)
    return {"N": n, "kind": retriever.kinds["text"], "build_s": round(build, 1), "gen_s": round(gen, 1),
            "new_query_ms": round(float(np.median(lat_new)), 2),
            "reweight_ms": round(float(np.median(lat_re)), 3),
            "exact_3x384_scan_ms": round(float(np.median(lat_exact)), 2),
            "flat_bound_numpy_ms": round(bound, 2), "faiss_flatip_ms": round(fscan, 2),
            "recall@10": round(float(np.mean(recalls)), 4)}


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000]
    print("N, index kind, build s, new query ms, reweight ms, exact scan ms, flat bound (numpy 1152-d) ms, faiss FlatIP ms, recall@10")
    for n in sizes:
        r = run(n)
        print(r, flush=True)
