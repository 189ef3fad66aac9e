"""Sound -> sound retrieval on the demo catalog: mmrec's librosa features against aisfx embeddings.

Each clip queries the other clips (leave-self-out, cosine); relevant = same top-level category
(the `category` column, else the first tag), as in bench/demo_quality.py. Scores: precision@1,
precision@5, MRR (a query whose category has no other clip scores 0), with the random baseline.
Encoders:
- librosa: mmrec_core.audio features at 22.05 kHz, AudioScaler fit over the catalog, L2;
- aisfx: mmrec_core.audio_aisfx.AisfxAudio (the ISMIR 2022 X-Sequential-CE CNN; 512-d, mean over
  2.3 s blocks at 44.1 kHz): raw, L2; and through the catalog's AudioScaler, as mmrec stores it.
Encode time is per clip (decoded waveform in, vector out), one clip at a time; aisfx also batched.
Usage: python bench/audio_eval.py [--catalog assets/demo/catalog.csv]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core.encoders.librosa_audio import AudioScaler, clip_features  # noqa: E402
from mmrec_core.catalog import load_catalog  # noqa: E402
from mmrec_core.encoders.aisfx_audio import SAMPLE_RATE as AISFX_SR, AisfxAudio  # noqa: E402
from mmrec_core.catalog import AUDIO_SR, load_audio  # noqa: E402
from mmrec_core.vectors import l2_normalize  # noqa: E402



def retrieval_scores(emb: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """emb float32 (n, d) L2-normalised; each row queries the others. Mean P@1, P@5, MRR."""
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :-1]  # the query itself sorts last
    lab = np.asarray(labels)
    hit = lab[order] == lab[:, None]  # (n, n-1)
    first = np.where(hit.any(1), hit.argmax(1) + 1, 0)
    return {"p@1": float(hit[:, 0].mean()), "p@5": float(hit[:, :5].mean()),
            "mrr": float(np.mean(np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)))}


def random_scores(labels: Sequence[str]) -> dict[str, float]:
    """Expected scores of a uniformly random ranking (exact)."""
    counts, n = Counter(labels), len(labels) - 1
    pos = [counts[c] - 1 for c in labels]
    p = float(np.mean([m / n for m in pos]))
    # P(first relevant at rank r) = C(n - r, m - 1) / C(n, m)
    rr = [sum(math.comb(n - r, m - 1) / math.comb(n, m) / r for r in range(1, n - m + 2)) if m else 0.0 for m in pos]
    return {"p@1": p, "p@5": p, "mrr": float(np.mean(rr))}


def timed(fn: Callable[[np.ndarray], np.ndarray], waves: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """Stack fn(y) over the clips; also the mean seconds per clip."""
    t = time.perf_counter()
    out = np.stack([fn(y) for y in waves]).astype(np.float32)
    return out, (time.perf_counter() - t) / len(waves)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog", default=str(ROOT / "assets" / "demo" / "catalog.csv"))
    args = parser.parse_args()

    items = [it for it in load_catalog(args.catalog).items if it.audio is not None]
    labels = [it.metadata.get("category") or (it.tags or ("?",))[0] for it in items]
    print(f"{len(items)} clips, {len(set(labels))} categories: {dict(Counter(labels).most_common())}")

    t = time.perf_counter()
    waves = [load_audio(it.audio) for it in items]
    dec22 = (time.perf_counter() - t) / len(items)
    print(f"clips: {sum(map(len, waves)) / AUDIO_SR / len(items):.2f} s mean; "
          f"decode at {AUDIO_SR} Hz {1e3 * dec22:.1f} ms/clip")
    raw, t_lib = timed(clip_features, waves)
    librosa_emb = AudioScaler.fit(raw).apply(raw)
    rows = [("random", random_scores(labels), None), ("librosa (mmrec)", retrieval_scores(librosa_emb, labels), t_lib)]

    t = time.perf_counter()
    waves = [load_audio(it.audio, sr=AISFX_SR) for it in items]
    dec44 = (time.perf_counter() - t) / len(items)
    model = AisfxAudio()  # the encoder mmrec ships (mmrec_core/encoders/aisfx_audio.py)
    t = time.perf_counter()
    model.features(waves[:1])  # loads the model
    load_s = time.perf_counter() - t
    print(f"aisfx: decode + resample to {AISFX_SR} Hz {1e3 * dec44:.1f} ms/clip; model load + first clip {load_s:.2f} s")
    emb, t_ai = timed(lambda y: model.features([y])[0], waves)
    t = time.perf_counter()
    batched = model.features(waves)
    t_batch = (time.perf_counter() - t) / len(items)
    gap = float(np.abs(batched - emb).max())
    scaled = AudioScaler.fit(emb, model.raw_dim).apply(emb)
    print(f"aisfx batched encode (32 blocks a forward): {1e3 * t_batch:.1f} ms/clip; "
          f"max |batched - one by one| {gap:.1e}")
    rows += [("aisfx mean, L2", retrieval_scores(l2_normalize(emb), labels), t_ai),
             ("aisfx, catalog scaler (mmrec)", retrieval_scores(scaled, labels), t_ai),
             ("librosa + aisfx, both scaled, concat",
              retrieval_scores(l2_normalize(np.hstack([librosa_emb, scaled])), labels), t_lib + t_ai)]

    print("\n| encoder | P@1 | P@5 | MRR | encode ms/clip |\n|---|---|---|---|---|")
    for name, s, sec in rows:
        ms = "-" if sec is None else f"{1e3 * sec:.1f}"
        print(f"| {name} | {s['p@1']:.3f} | {s['p@5']:.3f} | {s['mrr']:.3f} | {ms} |")


if __name__ == "__main__":
    main()
