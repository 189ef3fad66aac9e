"""Sound -> sound retrieval on the demo catalog: mmrec's librosa features against aisfx embeddings.

Each clip queries the other clips (leave-self-out, cosine); relevant = same top-level category
(the `category` column, else the first tag), as in bench/demo_quality.py. Scores: precision@1,
precision@5, MRR (a query whose category has no other clip scores 0), with the random baseline.
Encoders:
- librosa: mmrec_core.audio features at 22.05 kHz, AudioScaler fit over the catalog, L2 (mmrec today);
- aisfx: the ISMIR 2022 X-Sequential-CE CNN (pip install --no-deps aisfx; weights ship in the wheel),
  log-mel at 44.1 kHz as its librosa front end, 2.3 s blocks with 50 % hop, 512-d per block,
  mean over blocks, L2; and the same standardised per dimension over the catalog, then L2.
Encode time is per clip (decoded waveform in, vector out), one clip at a time; aisfx also batched.
Usage: python bench/audio_eval.py [--catalog assets/demo/catalog.csv]
"""

from __future__ import annotations

import argparse
import codecs
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core.audio import AudioScaler, clip_features  # noqa: E402
from mmrec_core.catalog import load_catalog  # noqa: E402
from mmrec_core.encoders import torch_threads  # noqa: E402
from mmrec_core.media import AUDIO_SR, load_audio  # noqa: E402
from mmrec_core.vectors import l2_normalize  # noqa: E402

AISFX_SR = 44100


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


class Aisfx:
    """aisfx X-Sequential-CE embedding net: mono float32 at 44.1 kHz -> float32 (512,), mean over blocks."""

    dim = 512
    block, hop = 100, 50  # spectrogram frames: 2.3 s blocks, 1.16 s hop (the package defaults)

    def __init__(self) -> None:
        import torch
        from aisfx import inference

        self.torch, self.inference = torch, inference
        # The checkpoint is (state_dict, {dataset: (np.int64 index, n_classes)}); allow exactly those
        # numpy globals instead of aisfx's own torch.load, which fails under weights_only (torch >= 2.6).
        safe = [(np._core.multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType,
                codecs.encode]
        with torch.serialization.safe_globals(safe):
            weights, ds_dict = torch.load(inference.get_path_modelWeights(), map_location="cpu", weights_only=True)
        self.model = inference.load_bestModel(weights, ds_dict, "cpu")

    def spectrogram(self, y: np.ndarray) -> np.ndarray:
        """aisfx.spectrogram.spectrogram_librosa on a waveform: (frames, 96) log-mel, peak-normalised input."""
        import librosa

        inf = self.inference
        peak = float(np.max(np.abs(y))) or 1.0
        mel = librosa.feature.melspectrogram(
            y=y / peak, sr=AISFX_SR, n_mels=inf.MEL_BINS, norm=1.0, fmin=inf.F_MIN, fmax=inf.F_MAX, htk=True,
            power=2.0, hop_length=inf.SPEC_HOP_LENGTH, win_length=inf.SPEC_BLOCK_LENGTH)
        # As the package: (n_mels, frames) log-compressed, then its 'original' min/max normalisation.
        return inf.spectrogram_normalize(np.log10(mel * 10000.0 + 1).T, spec_norm="original")

    def blocks(self, spec: np.ndarray) -> np.ndarray:
        """(frames, 96) -> (n_blocks, 100, 96), zero-padded; a clip under one hop gives one block.

        aisfx's own path (compute_hopSize) asserts more than 50 frames, i.e. clips over ~1.2 s."""
        return self.inference.blocking(spec, block_size=self.block, hop_size=self.hop, drop_partial_block=True)

    def encode_one(self, y: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            x = self.torch.from_numpy(self.blocks(self.spectrogram(y)).astype(np.float32))
            return self.model.get_embedding(x).numpy().mean(0)

    def encode(self, batch: Sequence[np.ndarray], *, chunk: int = 32) -> np.ndarray:
        """Clips -> float32 (n, 512): every clip's blocks through the net together, `chunk` blocks at a time."""
        blocks = [self.blocks(self.spectrogram(y)) for y in batch]
        x = self.torch.from_numpy(np.concatenate(blocks).astype(np.float32))
        with self.torch.no_grad():
            out = np.concatenate([self.model.get_embedding(x[i:i + chunk]).numpy() for i in range(0, len(x), chunk)])
        ends = np.cumsum([len(b) for b in blocks])
        return np.stack([out[e - len(b):e].mean(0) for b, e in zip(blocks, ends)]).astype(np.float32)


def timed(fn: Callable[[np.ndarray], np.ndarray], waves: Sequence[np.ndarray]) -> tuple[np.ndarray, float]:
    """Stack fn(y) over the clips; also the mean seconds per clip."""
    t = time.perf_counter()
    out = np.stack([fn(y) for y in waves]).astype(np.float32)
    return out, (time.perf_counter() - t) / len(waves)


def standardise(x: np.ndarray) -> np.ndarray:
    std = x.std(0)
    return l2_normalize((x - x.mean(0)) / np.where(std > 1e-6, std, 1.0))


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
    torch_threads()
    t = time.perf_counter()
    model = Aisfx()
    load_s = time.perf_counter() - t
    print(f"aisfx: decode + resample to {AISFX_SR} Hz {1e3 * dec44:.1f} ms/clip; model load {load_s:.2f} s "
          "(torch already imported)")
    emb, t_ai = timed(model.encode_one, waves)
    t = time.perf_counter()
    batched = model.encode(waves)
    t_batch = (time.perf_counter() - t) / len(items)
    gap = float(np.abs(batched - emb).max())
    print(f"aisfx batched encode (32 blocks a forward): {1e3 * t_batch:.1f} ms/clip; "
          f"max |batched - one by one| {gap:.1e}")
    rows += [("aisfx mean, L2", retrieval_scores(l2_normalize(emb), labels), t_ai),
             ("aisfx standardised, L2", retrieval_scores(standardise(emb), labels), t_ai),
             ("librosa + aisfx std, concat",
              retrieval_scores(l2_normalize(np.hstack([librosa_emb, standardise(emb)])), labels), t_lib + t_ai)]

    print("\n| encoder | P@1 | P@5 | MRR | encode ms/clip |\n|---|---|---|---|---|")
    for name, s, sec in rows:
        ms = "-" if sec is None else f"{1e3 * sec:.1f}"
        print(f"| {name} | {s['p@1']:.3f} | {s['p@5']:.3f} | {s['mrr']:.3f} | {ms} |")


if __name__ == "__main__":
    main()
