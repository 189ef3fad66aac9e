"""Shared test vectors of the fusion strategies: the library's answers, which the browser's twin must give too.

`cases()` builds inputs (similarities, presence masks, weights, strategy parameters, exclusions, K) and asks
mmrec_core for the expected fused scores, validity, contributions and top-K; tests/data/fusion_vectors.json holds
them for the JavaScript test (tests/js/fusion.test.mjs, Node's test runner), and tests/test_fusion_js.py checks
that the file is what the library answers today. Rewrite it after changing a strategy:

    .venv/bin/python tests/helpers/fusion_vectors.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mmrec_core.errors import MMRecError  # noqa: E402
from mmrec_core.retrieval import MODALITIES, Candidates, Weights, list_strategies, rank  # noqa: E402
from mmrec_core.retrieval._fusion import fuse  # noqa: E402

FILE = ROOT / "tests" / "data" / "fusion_vectors.json"
WEIGHTS = [(0.5, 0.5, 0.5), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.3, 0.7, 0.0), (0.75, 0.25, 0.1),
           (2.0, 0.5, 0.0)]
# rrf's own k (60) cannot be passed through rank(), whose k is the result count: the page never changes it
PARAMS = {"attention": [{"temperature": 0.05}, {"temperature": 1.0}],
          "learned": [{"scale_text": 4.0, "scale_image": 12.0, "bias_audio": -0.5, "bias_image": 0.25}]}


def inputs(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(sims float32 (n, 3), avail bool (n, 3)): random cosines, some rows lacking modalities, exact ties."""
    rng = np.random.default_rng(seed)
    sims = rng.uniform(-0.2, 0.9, (n, len(MODALITIES))).astype(np.float32)
    avail = rng.random((n, len(MODALITIES))) < [0.95, 0.85, 0.4]
    if n >= 8:
        avail[3] = False  # an item with nothing the query can compare
        sims[5], avail[5] = sims[2], avail[2]  # exact ties: the earlier row must rank first
        sims[7], avail[7] = sims[2], avail[2]
        avail[6] = [True, True, True]
    return np.where(avail, sims, np.float32(0)), avail


def case(name: str, sims: np.ndarray, avail: np.ndarray, weights: tuple[float, ...], strategy: str,
         params: dict[str, float], k: int, exclude: tuple[int, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "sims": sims.tolist(), "avail": avail.astype(int).tolist(),
                           "weights": dict(zip(MODALITIES, weights)), "strategy": strategy, "params": params, "k": k,
                           "exclude": list(exclude)}
    w = Weights(*weights)
    try:
        fused = fuse(sims, avail, w, strategy=strategy, **params)
        ranking = rank(Candidates(np.arange(len(sims)), sims, avail, frozenset(exclude)), w, strategy=strategy, k=k,
                       **params)
    except MMRecError as exc:
        out["error"] = str(exc)
        return out
    out.update(scores=fused.scores.astype(float).tolist(), valid=fused.valid.astype(int).tolist(),
               contributions=fused.contributions.astype(float).tolist(), top=ranking.rows.astype(int).tolist(),
               top_scores=ranking.scores.astype(float).tolist(),
               top_contributions=ranking.contributions.astype(float).tolist())
    return out


def cases() -> list[dict[str, Any]]:
    out = []
    for strategy in list_strategies():
        for i, weights in enumerate(WEIGHTS):
            sims, avail = inputs(seed=i, n=24)
            out.append(case(f"{strategy} w{i}", sims, avail, weights, strategy, {}, k=10))
        for j, params in enumerate(PARAMS.get(strategy, [])):
            sims, avail = inputs(seed=100 + j, n=24)
            out.append(case(f"{strategy} params{j}", sims, avail, (0.6, 0.4, 0.3), strategy, params, k=8))
        sims, avail = inputs(seed=7, n=24)
        out.append(case(f"{strategy} exclude", sims, avail, (0.5, 0.5, 0.5), strategy, {}, k=6, exclude=(0, 2, 9)))
        out.append(case(f"{strategy} k beyond n", *inputs(seed=8, n=5), (0.5, 0.5, 0.5), strategy, {}, k=50))
        out.append(case(f"{strategy} no candidates", np.zeros((0, 3), np.float32), np.zeros((0, 3), bool),
                        (0.5, 0.5, 0.5), strategy, {}, k=10))
        out.append(case(f"{strategy} all weights zero", *inputs(seed=9, n=12), (0.0, 0.0, 0.0), strategy, {}, k=5))
        sims = np.full((12, 3), 0.25, np.float32)  # everything tied: row order decides, also at the K-th place
        out.append(case(f"{strategy} all tied", sims, np.ones((12, 3), bool), (0.5, 0.5, 0.0), strategy, {}, k=5))
    sims, avail = inputs(seed=11, n=10)
    out.append(case("attention bad temperature", sims, avail, (0.5, 0.5, 0.5), "attention", {"temperature": 0.0}, 5))
    out.append(case("learned unknown parameter", sims, avail, (0.5, 0.5, 0.5), "learned", {"sharpness": 2.0}, 5))
    out.append(case("unknown strategy", sims, avail, (0.5, 0.5, 0.5), "median", {}, 5))
    return out


def main() -> None:
    FILE.write_text(json.dumps({"modalities": list(MODALITIES), "strategies": list(list_strategies()),
                                "cases": cases()}, separators=(",", ":")) + "\n")
    print(f"wrote {FILE} ({len(cases())} cases)")


if __name__ == "__main__":
    main()
