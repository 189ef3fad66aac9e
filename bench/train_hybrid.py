"""Speed of the recommenders: hybrid training on MovieLens 100K, and recommending right after a like at scale.

    .venv/bin/python bench/train_hybrid.py                 # both parts
    .venv/bin/python bench/train_hybrid.py --skip-latency  # only ML-100K training (time per epoch, total)
    .venv/bin/python bench/train_hybrid.py --skip-train --items 100000

Training: the hybrid on all 100,000 ML-100K interactions (text-only store, see bench/rec_eval.py).
Latency: a synthetic store of N items (text and image 384-d, audio 92-d, like the demo's
encoders), synthetic interactions; per model the median time of like() + recommend(k=10) for one
user, over 20 likes (the first call, which fuses the item representations once, is reported apart).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def train_ml100k(workdir: Path, epochs: int, seed: int) -> dict:
    from rec_eval import prepare_ml100k

    from mmrec_core.recs import load_store_interactions
    from mmrec_core.recs import RecEngine
    from mmrec_core.store import open_store

    store = open_store(prepare_ml100k(workdir))
    inter = load_store_interactions(store).interactions
    stamps: list[float] = []
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if stage.endswith("epoch"):
            stamps.append(time.perf_counter())

    engine = RecEngine.fit(store, inter, ["hybrid"], configs={"hybrid": {"epochs": epochs, "seed": seed}}, progress=progress)
    total = time.perf_counter() - start
    per_epoch = np.diff([start, *stamps])
    return {"dataset": "MovieLens 100K", "interactions": len(inter), "users": inter.n_users, "items": len(store.items),
            "epochs": epochs, "seconds_total": round(total, 2), "seconds_per_epoch_median": round(float(np.median(per_epoch)), 3),
            "seconds_first_epoch": round(float(per_epoch[0]), 3), "fit_seconds_reported": engine.trained["hybrid"].meta["seconds"]}


def synthetic(path: Path, n: int, *, users: int, per_user: int, seed: int = 0):
    from mmrec_core.encoders.librosa_audio import AudioScaler
    from mmrec_core.recs import from_records
    from mmrec_core.store import write_store
    from mmrec_core.vectors import l2_normalize

    rng = np.random.default_rng(seed)
    topics = l2_normalize(rng.standard_normal((50, 384)))
    topic = rng.integers(0, 50, n)
    emb = {m: l2_normalize(topics[topic] + 0.8 * rng.standard_normal((n, 384)).astype(np.float32) / np.sqrt(384) * 10)
           for m in ("text", "image")}
    emb["audio"] = l2_normalize(rng.standard_normal((n, 92)))
    emb["image"][::4] = 0
    emb["audio"][n // 10 :] = 0
    items = [{"id": f"s{r}", "title": f"synthetic {r}", "tags": [f"t{topic[r]}"]} for r in range(n)]
    t = time.perf_counter()
    store = write_store(path, items=items, embeddings=emb, scaler=AudioScaler(np.zeros(92, np.float32), np.ones(92, np.float32)),
                        encoder={"name": "synthetic", "spec": "bridge"})
    build = time.perf_counter() - t
    pop = rng.zipf(1.3, size=users * per_user) % n
    records = [(i, f"u{i // per_user}", f"s{r}", 1.0, float(i)) for i, r in enumerate(pop)]
    return store, from_records(records, store.ids).interactions, build


def latency(n: int, *, users: int, per_user: int, repeats: int = 20) -> dict:
    from mmrec_core.recs import RecEngine

    with tempfile.TemporaryDirectory() as tmp:
        store, inter, build = synthetic(Path(tmp) / "s", n, users=users, per_user=per_user)
        t = time.perf_counter()
        engine = RecEngine.fit(store, inter, ["popularity", "itemknn", "content", "hybrid", "blend"],
                               configs={"hybrid": {"epochs": 1}, "blend": {"configs": {"hybrid": {"epochs": 1}}}})
        fit = time.perf_counter() - t
        out = {"items": n, "store_build_s": round(build, 1), "fit_all_s": round(fit, 1), "kinds": store.retriever.kinds}
        rng = np.random.default_rng(1)
        for model in engine.models:
            history = engine.history("u7", model=model)
            t = time.perf_counter()
            engine.recommend(engine.like(history, "s1"), model=model, k=10)
            first = time.perf_counter() - t
            times = []
            for r in rng.integers(0, n, repeats):
                t = time.perf_counter()
                history = engine.like(history, f"s{r}")
                engine.recommend(history, model=model, k=10)
                times.append(time.perf_counter() - t)
            out[model] = {"first_ms": round(1000 * first, 1), "median_ms": round(1000 * statistics.median(times), 2),
                          "max_ms": round(1000 * max(times), 2), "history": len(history.rows)}
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=ROOT / ".mmrec" / "ml100k")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--items", type=int, nargs="*", default=[100_000])
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    if not args.skip_train:
        print(json.dumps({"train": train_ml100k(args.workdir, args.epochs, args.seed)}), flush=True)
    if not args.skip_latency:
        for n in args.items:
            print(json.dumps({"like_then_recommend": latency(n, users=2000, per_user=50)}), flush=True)


if __name__ == "__main__":
    main()
