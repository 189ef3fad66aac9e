"""Statistics of a catalog (real or generated) and the real vs generated vs clustered table of embedshape.

`python bench/embedshape_report.py [--n 20000]`: the real column comes from the profile (measured by the
fit); the generated and clustered ones are computed at the real N and at n, with brute-force rank checks.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from embedshape import (AUDIO_FRAC, DEFAULT_PROFILE, DIMS, Shape, clustered,  # noqa: F401  (bench/ on sys.path)
                        clustered_text_queries)


def present(x: np.ndarray) -> np.ndarray:
    """The non-zero rows of x (a missing modality is a zero row)."""
    return x[np.abs(x).sum(axis=1) > 0]


def spectrum(x: np.ndarray) -> dict[str, float]:
    """Top-10 eigenvalue share of the covariance, effective dimension (participation ratio), |mean|."""
    mu = x.mean(axis=0)
    c = (x - mu).astype(np.float64)
    ev = np.clip(np.linalg.eigvalsh(c.T @ c / len(x))[::-1], 0, None)
    return {"top10": float(ev[:10].sum() / ev.sum()), "eff_dim": float(ev.sum() ** 2 / (ev ** 2).sum()),
            "mean_norm": float(np.linalg.norm(mu))}


def neighbours(x: np.ndarray, *, sample: int = 2000, seed: int = 0) -> dict[str, float]:
    """Nearest-neighbour cosine (mean, 10/50/90% quantiles) of up to `sample` rows against all, and the
    mean cosine between random pairs."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(x), min(sample, len(x)), replace=False)
    sims = x[rows] @ x.T
    sims[np.arange(len(rows)), rows] = -2.0
    nn = sims.max(axis=1)
    other = (rows + rng.integers(1, len(x), len(rows))) % len(x)
    q10, q50, q90 = np.quantile(nn, [0.1, 0.5, 0.9])
    return {"nn": float(nn.mean()), "nn_q10": float(q10), "nn_q50": float(q50), "nn_q90": float(q90),
            "random": float(np.mean(np.sum(x[rows] * x[other], axis=1)))}


def ranks(queries: np.ndarray, targets: np.ndarray, source: np.ndarray) -> dict[str, float]:
    """Rank of each query's source row among all targets by cosine: median and recall@10."""
    sims = queries @ targets.T
    own = sims[np.arange(len(source)), source]
    rank = (sims > own[:, None]).sum(axis=1) + 1
    return {"median_rank": float(np.median(rank)), "r_at_10": float(np.mean(rank <= 10))}


def growth(x: np.ndarray, *, seed: int = 0) -> list[float]:
    """Mean NN cosine of random subsets of 1/4, 1/2 and all of the rows of x (mean over 3 draws): how fast
    neighbours get closer as the catalog grows."""
    rng = np.random.default_rng(seed)
    out = []
    for share in (0.25, 0.5, 1.0):
        draws = [x[rng.choice(len(x), int(share * len(x)), replace=False)] for _ in range(3 if share < 1 else 1)]
        out.append(float(np.mean([neighbours(d, sample=len(d))["nn"] for d in draws])))
    return out


def measure(emb: dict[str, np.ndarray]) -> dict[str, Any]:
    """The report's statistics of one catalog {modality: float32 (n, d)} (audio rows may be zero)."""
    out: dict[str, Any] = {m: {**spectrum(present(x)), **neighbours(present(x))} for m, x in emb.items()}
    t, i = emb["text"], emb["image"]
    out["pair_cos"] = float(np.mean(np.sum(t * i, axis=1)))
    out["gap_norm"] = float(np.linalg.norm(t.mean(axis=0) - i.mean(axis=0)))
    out["n"] = int(len(t))
    if len(t) <= 5000:  # all-pairs NN of every subset: only at about the real N
        out["growth"] = {m: growth(present(x)) for m, x in emb.items()}
    return out


_ROWS = [(m, k, label) for m in DIMS for k, label in (
    ("top10", "top-10 eigenvalue share"), ("eff_dim", "effective dimension"), ("mean_norm", "|mean vector|"),
    ("nn", "mean NN cosine"), ("nn_q10", "NN cosine 10%"), ("nn_q50", "NN cosine 50%"), ("nn_q90", "NN cosine 90%"),
    ("random", "mean random cosine"))] + [(None, k, label) for k, label in (
        ("pair_cos", "paired text-image cosine"), ("gap_norm", "gap |mean text - mean image|"),
        ("audio_frac", "audio fraction"), ("query_text_cos", "text query . own item text"),
        ("image_query_cos", "image query . own image"))]


def _catalog(kind: str, shape: Shape, n: int, n_audio: int) -> dict[str, Any]:
    """measure() of the first n rows (audio: of the first n_audio sounding rows), query cosines and ranks."""
    emb = shape.items(0, n) if kind == "generated" else clustered(0, n)
    frac = float(np.mean(np.abs(emb["audio"]).sum(axis=1) > 0))
    rows = np.arange(int(3 * n_audio / AUDIO_FRAC) + 1)
    if kind == "generated":
        emb["audio"] = shape.rows(rows[shape.has_audio(rows)][:n_audio], modalities=("audio",))["audio"]
    else:  # sounds are per row here: more rows only if the first n lack enough
        audio = present(emb["audio"])
        emb["audio"] = (audio if len(audio) >= n_audio else present(clustered(0, len(rows))["audio"]))[:n_audio]
    stats = measure(emb)
    stats["audio_frac"] = frac
    tq, src = (shape.text_queries(n, 1000) if kind == "generated" else clustered_text_queries(n, 1000))
    stats["query_text_cos"] = float(np.mean(np.sum(tq * emb["text"][src], axis=1)))
    if kind == "generated":
        iq, isrc = shape.image_queries(n, 1000)
        stats["image_query_cos"] = float(np.mean(np.sum(iq * emb["image"][isrc], axis=1)))
    own = np.arange(min(n, 1000))
    stats["ranks"] = {"text query -> own image": ranks(tq, emb["image"], src),
                      "item text -> own image": ranks(emb["text"][own], emb["image"], own)}
    return stats


def _cell(stats: dict[str, Any], modality: str | None, key: str) -> str:
    value = (stats.get(modality) or {}).get(key) if modality else stats.get(key)
    return "-" if value is None else f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def report(n: int, profile: Path = DEFAULT_PROFILE) -> None:
    """Print real vs generated vs clustered at the real N and at n, and the text -> image rank check."""
    shape = Shape.load(profile)
    real = shape.real
    t0 = time.perf_counter()
    cols = {f"real (n={real['n']})": real}
    for size in (real["n"], n):
        for kind in ("generated", "clustered"):
            cols[f"{kind} (n={size})"] = _catalog(kind, shape, size, real["n_audio"] if size == real["n"] else
                                                   int(size * AUDIO_FRAC))
    width = max(len(c) for c in cols) + 2
    print(f"{'':36}" + "".join(f"{c:>{width}}" for c in cols))
    for modality, key, label in _ROWS:
        name = f"{modality} {label}" if modality else label
        print(f"{name:36}" + "".join(f"{_cell(s, modality, key):>{width}}" for s in cols.values()))
    print("\ntext -> own image (brute force over all images of the set): median rank, R@10")
    for label, r in real["ranks"].items():
        print(f"  real {label} (n={r['n']}): {r['median_rank']:.0f}, {r['r_at_10']:.3f}")
    demo_n = real["ranks"]["demo query -> own image"]["n"]
    for size in (demo_n, real["n"], n):
        for kind in ("generated", "clustered"):
            stats = cols.get(f"{kind} (n={size})") or _catalog(kind, shape, size, 10)
            for label, r in stats["ranks"].items():
                print(f"  {kind} {label} (n={size}): {r['median_rank']:.0f}, {r['r_at_10']:.3f}")
    print(f"\nmean NN cosine of random 1/4, 1/2 and all of the {real['n']} pairs / {real['n_audio']} sounds "
          "(how neighbours close in as N grows)")
    for m in DIMS:
        for label in ("real", "generated"):
            print(f"  {m:5} {label:9} " + "  ".join(f"{v:.3f}" for v in cols[f"{label} (n={real['n']})"]["growth"][m]))
    print(f"\nparams {json.dumps(shape.params)}; report took {time.perf_counter() - t0:.0f} s")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    args = parser.parse_args()
    report(args.n, args.profile)


if __name__ == "__main__":
    main()
