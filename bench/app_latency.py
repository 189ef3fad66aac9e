"""The server's share of a weight move on the Search page (Streamlit AppTest, models warm).

The page re-ranks in the browser (bench/browser_latency.py times what a person sees); the server runs the
script once when a move settles. For the demo store and a synthetic 100k-item store: the time of that one
AppTest rerun, split into retrieval (mmrec_core.search.rank on the kept candidates, timed
alone on the same data) and the rest (Streamlit script run + rendering).
Usage: python bench/app_latency.py [--sizes 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def synthetic_store(root: Path, n: int) -> Path:
    from mmrec_core.encoders.librosa_audio import AudioScaler
    from mmrec_core.encoders.librosa_audio import FEATURE_NAMES
    from mmrec_core.store import write_store
    from mmrec_core.vectors import l2_normalize

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 500, n)
    emb = {}
    for m, d in (("text", 384), ("image", 384), ("audio", len(FEATURE_NAMES) + 1)):
        centers = rng.standard_normal((500, d)).astype(np.float32)
        emb[m] = l2_normalize(centers[labels] + 0.7 * rng.standard_normal((n, d)).astype(np.float32))
    emb["audio"][rng.random(n) < 0.8] = 0
    items = [{"id": f"s{i}", "title": f"Synthetic item {i}", "description": "", "tags": [f"group{labels[i]}"],
              "image": None, "audio": None, "metadata": {}} for i in range(n)]
    scaler = AudioScaler(np.zeros(len(FEATURE_NAMES), np.float32), np.ones(len(FEATURE_NAMES), np.float32))
    path = root / "stores" / f"synthetic{n}"
    write_store(path, items=items, embeddings=emb, scaler=scaler,
                encoder={"name": "bridge", "spec": "bridge", "text": "minilm-l6-v2"})
    return path


def measure(label: str, runs: int = 7) -> None:
    from streamlit.testing.v1 import AppTest

    from helpers import rerank  # the Search page's component, driven as the browser drives it

    from mmrec_core.retrieval import Weights
    from mmrec_core.retrieval import rank

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    assert not at.exception, at.exception
    totals, retrieval = [], []
    cands = at.session_state["search_cache"]["cands"]  # the kept candidates of the current query
    for i in range(runs):
        alpha = 0.2 + 0.6 * (i % 2)
        t = time.perf_counter()
        rerank.settle(at, {"text": 1.0 - alpha, "image": alpha, "audio": 0.5})  # what the page sends once a move settles
        totals.append(time.perf_counter() - t)
        assert not at.exception, at.exception
        if cands is not None:
            t = time.perf_counter()
            rank(cands, Weights.from_alpha(alpha, audio=0.5), k=12)
            retrieval.append(time.perf_counter() - t)
    total = statistics.median(totals) * 1000
    ret = statistics.median(retrieval) * 1000 if retrieval else float("nan")
    print(f"{label}: settled weights, one script run {total:.0f} ms (median of {runs}); retrieval (rank on kept candidates) {ret:.2f} ms "
          f"= {100 * ret / total:.1f}%; script run + rendering {total - ret:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000])
    args = parser.parse_args()
    demo_home = ROOT / ".mmrec"
    if not (demo_home / "stores" / "demo" / "CURRENT").is_file():
        sys.exit("build the demo store first: make demo-store")
    os.environ["MMREC_HOME"] = str(demo_home)
    measure("demo (950 items)")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            synthetic_store(Path(tmp), n)
            os.environ["MMREC_HOME"] = tmp
            measure(f"synthetic {n:,} items")


if __name__ == "__main__":
    main()
