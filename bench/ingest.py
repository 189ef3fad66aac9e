"""Ingest throughput on the demo catalog: items/s, and the ratio to the bare encoder forward.

Runs (1) a full ingest with an empty cache, (2) the bare encoders on the same inputs, already
decoded in memory (text batches, images, waveforms), (3) a re-ingest of the unchanged catalog.
ratio = bare forward time / ingest time: 1.0 means decoding, hashing and I/O cost nothing.
--engine ray also ingests with the Ray Data engine (a local Ray, started and timed first) on an empty
cache, and prints its items/s beside the in-process ingest's, the ratio, and its fixed overhead.
Usage: python bench/ingest.py [--limit N] [--engine ray [--actors N]]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core.ingest import EmbeddingCache  # noqa: E402
from mmrec_core.catalog import load_catalog  # noqa: E402
from mmrec_core.encoders import DEFAULT_ENCODER, get_encoders  # noqa: E402
from mmrec_core.ingest import ingest  # noqa: E402
from mmrec_core.catalog import load_audio, load_image  # noqa: E402


def subset(src: Path, dest: Path, limit: int) -> Path:
    """A copy of the first `limit` rows of a catalog (media copied: links out of a catalog are refused)."""
    with open(src / "catalog.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with open(dest / "catalog.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows[: limit + 1])
    for sub in ("images", "sounds"):
        shutil.copytree(src / sub, dest / sub)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="first N items only (0 = all)")
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="ray: also ingest with Ray Data")
    parser.add_argument("--actors", type=int, default=None, help="Ray actors per kind (default: one per 2 CPUs)")
    args = parser.parse_args()
    enc = get_encoders(args.encoder)
    # model load is neither ingest nor forward work: load every tower before timing either
    from PIL import Image
    import numpy as np
    enc.text.encode(["warm up"])
    enc.image.encode([Image.new("RGB", (64, 64), "white")])
    enc.audio.features([np.random.default_rng(0).standard_normal(22050).astype(np.float32)])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = ROOT / "assets" / "demo"
        if args.limit:
            (tmp / "cat").mkdir()
            src = subset(src, tmp / "cat", args.limit)
        cache = EmbeddingCache(tmp / "cache.sqlite")
        t = time.perf_counter()
        report = ingest(src, tmp / "store", cache=cache, encoder=args.encoder)
        ingest_s = time.perf_counter() - t
        n = len(report.store.items)
        cat = load_catalog(src)
        texts = [it.text for it in cat.items if it.text]
        images = [load_image(it.image) for it in cat.items if it.image]
        clips = [load_audio(it.audio) for it in cat.items if it.audio]
        t = time.perf_counter()
        for s in range(0, len(texts), 64):
            enc.text.encode(texts[s:s + 64])
        for s in range(0, len(images), 32):
            enc.image.encode(images[s:s + 32])
        for s in range(0, len(clips), 32):
            enc.audio.features(clips[s:s + 32])
        bare_s = time.perf_counter() - t
        t = time.perf_counter()
        again = ingest(src, tmp / "store", cache=cache, encoder=args.encoder)
        re_s = time.perf_counter() - t
        ray_line = ray_run(src, tmp, args, ingest_s, n) if args.engine == "ray" else []
        shutil.rmtree(tmp / "store", ignore_errors=True)
    print(f"encoder: {args.encoder}")
    print(f"items: {n} (text {len(texts)}, image {len(images)}, audio {len(clips)})")
    print(f"ingest, empty cache: {ingest_s:.1f} s = {n / ingest_s:.1f} items/s")
    print(f"bare encoder forward on decoded inputs: {bare_s:.1f} s")
    print(f"ratio bare/ingest: {bare_s / ingest_s:.2f} (goal >= 0.9)")
    print(f"re-ingest unchanged: {re_s:.2f} s, encoded {sum(again.encoded.values())} items")
    print(*ray_line, sep="\n")


def ray_run(src: Path, tmp: Path, args: argparse.Namespace, local_s: float, n: int) -> list[str]:
    """Ray Data ingest of the same catalog on an empty cache, beside the in-process one."""
    from mmrec_core.ingest import RayEngine, connect

    t = time.perf_counter()
    connect()
    init_s = time.perf_counter() - t
    engine = RayEngine(actors=args.actors)
    t = time.perf_counter()
    report = ingest(src, tmp / "store-ray", cache=EmbeddingCache(tmp / "cache-ray.sqlite"), encoder=args.encoder,
                    engine=engine)
    ray_s = time.perf_counter() - t
    kinds = [k for k, v in report.encoded.items() if v]
    return [f"ray.init (local, {os.cpu_count()} CPUs): {init_s:.1f} s",
            f"in-process ingest: {n / local_s:.1f} items/s ({local_s:.1f} s) | "
            f"ray ingest: {n / ray_s:.1f} items/s ({ray_s:.1f} s, {len(kinds)} pipelines: {', '.join(kinds)})",
            f"ratio ray/in-process items/s: {local_s / ray_s:.2f}; ray time - in-process time: {ray_s - local_s:+.1f} s "
            f"({(ray_s - local_s) / len(kinds):+.1f} s a pipeline: actor start, model load, scheduling)"]


if __name__ == "__main__":
    main()
