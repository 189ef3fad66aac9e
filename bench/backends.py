"""FAISS vs Milvus Lite as mmrec's index backend: insert time, new-query and reweight latency, recall@10 against exact.

For the demo store (.mmrec/stores/demo) and a synthetic store of N items (bench/scale.py's generator,
shaped like the default encoder's embeddings), the same vectors are written once per backend
(insert_s: the whole store written, index included), then queries are answered through each
(new_query_ms: candidates from the backend + exact rescoring + fusion, median; reweight_ms: re-ranking
the kept candidates under new weights, the same mmrec code for both), their fused top-10 compared
with the exact ranking over every item (recall_at_10), and 1,000 items added (add_1k_s; encoding excluded).

Usage: python bench/backends.py [--n 100000] [--queries 50] [--skip-demo]. One JSON line per store and backend.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(1, str(HERE))

from mmrec_core.retrieval import MODALITIES, Weights  # noqa: E402
from mmrec_core.retrieval import IndexConfig  # noqa: E402
from mmrec_core.retrieval import QueryVectors, Retriever, rank  # noqa: E402
from mmrec_core.store import Rows, add_items, open_store, write_store  # noqa: E402

BACKENDS = ("faiss", "milvus")
WEIGHTS, REWEIGHTS = Weights(0.5, 0.5, 0.2), Weights(0.2, 0.8, 0.0)


def write(path: Path, backend: str, items, emb, scaler, encoder) -> tuple[object, float]:
    t0 = time.perf_counter()
    store = write_store(path, items=items, embeddings=emb, scaler=scaler, encoder=encoder, index=backend)
    return store, time.perf_counter() - t0


def measure(store, qs: list[QueryVectors], exact: list[list[int]]) -> dict:
    new, rew, recall = [], [], []
    store.retriever.candidates(qs[0])  # the first query opens the index (FAISS files, a Milvus connection)
    for q, truth in zip(qs, exact):
        t0 = time.perf_counter()
        cands = store.retriever.candidates(q)
        top = rank(cands, WEIGHTS, k=10).rows
        new.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        rank(cands, REWEIGHTS, k=10)
        rew.append((time.perf_counter() - t0) * 1000)
        recall.append(len(set(top.tolist()) & set(truth)) / 10)
    return {"new_query_ms": round(float(np.median(new)), 2), "reweight_ms": round(float(np.median(rew)), 3),
            "recall_at_10": round(float(np.mean(recall)), 3)}


def exact_tops(emb, present, qs) -> list[list[int]]:
    flat = Retriever(emb, config=IndexConfig(kind="flat"), present=present)
    return [rank(flat.candidates(q), WEIGHTS, k=10).rows.tolist() for q in qs]


def compare(name: str, items, emb, scaler, encoder, qs, extra: Rows, work: Path) -> None:
    present = None
    exact = None
    for backend in BACKENDS:
        path = work / f"{name}-{backend}"
        store, insert_s = write(path, backend, items, emb, scaler, encoder)
        if exact is None:
            present = store.present
            exact = exact_tops({m: store.vectors(m, slice(None)) for m in MODALITIES}, present, qs)
        out = {"store": name, "backend": backend, "items": store.n_items, "kinds": store.manifest["index"]["kinds"],
               "insert_s": round(insert_s, 2), **measure(store, qs, exact)}
        t0 = time.perf_counter()
        add_items(path, extra, encoder=encoder)
        out["add_1k_s"] = round(time.perf_counter() - t0, 2)
        print(json.dumps(out), flush=True)


def item_queries(emb, rows) -> list[QueryVectors]:
    """'More like this' queries from stored items: every modality the item has."""
    out = []
    for r in rows:
        vec = {m: np.asarray(emb[m][r], np.float32) for m in MODALITIES}
        out.append(QueryVectors(**{m: v if np.any(v) else None for m, v in vec.items()}))
    return out


def fresh_rows(emb, n: int, seed: int, prefix: str) -> Rows:
    """n new items: stored vectors of random items, slightly moved and renormalised."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(next(iter(emb.values())).shape[0], n)
    vecs = {}
    for m in MODALITIES:
        v = np.asarray(emb[m][pick], np.float32)
        has = np.linalg.norm(v, axis=1, keepdims=True) > 0.5
        v = v + 0.05 * rng.standard_normal(v.shape).astype(np.float32)
        vecs[m] = np.where(has, v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9), 0).astype(np.float32)
    return Rows([{"id": f"{prefix}{i}", "title": f"new {i}"} for i in range(n)], vecs)


def demo(work: Path, count: int) -> None:
    src = HERE.parent / ".mmrec" / "stores" / "demo"
    if not (src / "CURRENT").is_file():
        print(f"no demo store at {src}: python -m mmrec_core ingest assets/demo --store {src}", file=sys.stderr)
        return
    s = open_store(src)
    live = s.live_rows
    emb = {m: s.vectors(m, live) for m in MODALITIES}
    rng = np.random.default_rng(0)
    qs = item_queries(emb, rng.choice(len(live), min(count, len(live)), replace=False))
    compare("demo", [s.items[r] for r in live], emb, s.scaler, s.manifest["encoder"], qs,
            fresh_rows(emb, 1000, 1, "new"), work)


def synthetic(n: int, work: Path, count: int) -> None:
    import scale

    from mmrec_core.encoders.librosa_audio import FEATURE_NAMES, AudioScaler

    items_fn, text_q, _ = scale.generator("real")
    emb = scale.generate(n, work, items_fn)
    tq, _ = text_q(n, count, seed=1)
    qs = [QueryVectors(text=v, image=v) for v in tq[: count // 2]]  # text -> text + image
    qs += item_queries(emb, np.random.default_rng(0).choice(n, count - len(qs), replace=False))
    k = len(FEATURE_NAMES)
    compare(f"synthetic-{n}", scale.Records(n), emb, AudioScaler(np.zeros(k, np.float32), np.ones(k, np.float32)),
            {"name": "aligned+aisfx", "spec": "aligned+aisfx"}, qs, fresh_rows(emb, 1000, 2, "new"), work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="synthetic items (0: none)")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--skip-demo", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mmrec-backends-"))
    try:
        if not args.skip_demo:
            demo(work, args.queries)
        if args.n:
            synthetic(args.n, work, args.queries)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
