"""Ingest throughput on the demo catalog per runtime (torch, openvino): items/s, and the stages.

Each runtime runs in its own fresh process (MMREC_RUNTIME), one after the other, and does: (1) a full
ingest with an empty cache, (2) decoding alone (images and sounds read and decoded), (3) the bare encoders
on the same inputs, already decoded in memory (text batches, images, waveforms), (4) a re-ingest of the
unchanged catalog. ratio = bare forward time / ingest time: 1.0 means decoding, hashing and I/O cost nothing
(ingest overlaps decoding with the forward pass, so the stages need not add up to the ingest time).
--engine ray also ingests with the Ray Data engine (a local Ray, started and timed first) on an empty
cache, and prints its items/s beside the in-process ingest's, the ratio, and its fixed overhead.
Each --runtime entry may name its own encoder, RUNTIME:ENCODER: `--runtime torch:aligned:4c575f9d79,openvino`
times a retired checkpoint's tower on torch beside the default encoder on OpenVINO, in one run.
Usage: python bench/ingest.py [--limit N] [--runtime torch,openvino] [--engine ray [--actors N]]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
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
    parser.add_argument("--runtime", default="torch,openvino",
                        help="runtimes to compare, each in a fresh process; RUNTIME:ENCODER for another encoder than --encoder")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="ray: also ingest with Ray Data")
    parser.add_argument("--actors", type=int, default=None, help="Ray actors per kind (default: one per 2 CPUs)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    rows = []
    for entry in args.runtime.split(","):
        runtime, _, encoder = entry.partition(":")
        cmd = [sys.executable, __file__, "--child", "--limit", str(args.limit), "--encoder", encoder or args.encoder,
               "--engine", args.engine] + (["--actors", str(args.actors)] if args.actors else [])
        out = subprocess.run(cmd, env={**os.environ, "MMREC_RUNTIME": runtime}, capture_output=True, text=True,
                             check=True)
        rows.append({"runtime": entry if encoder else runtime, **json.loads(out.stdout.strip().splitlines()[-1])})
    report(args.encoder, rows)


def report(encoder: str, rows: list[dict]) -> None:
    r0 = rows[0]
    print(f"encoder: {encoder}; items: {r0['n']} (text {r0['texts']}, image {r0['images']}, audio {r0['clips']}); "
          f"{os.cpu_count()} CPUs")
    print("| runtime | ingest, empty cache | items/s | decode alone | bare forward (text / image / audio) "
          "| bare / ingest | re-ingest |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        f = r["forward"]
        print(f"| {r['runtime']} | {r['ingest_s']:.1f} s | {r['n'] / r['ingest_s']:.1f} | {r['decode_s']:.1f} s "
              f"| {sum(f.values()):.1f} s ({f['text']:.1f} / {f['image']:.1f} / {f['audio']:.1f}) "
              f"| {sum(f.values()) / r['ingest_s']:.2f} | {r['re_s']:.2f} s |")
        for line in r.get("ray", []):
            print("   ", line)
    for r in rows[1:]:
        print(f"items/s {r['runtime']} / {r0['runtime']}: {r0['ingest_s'] / r['ingest_s']:.2f}x (same run, one after the other)")
    for r in rows:
        n = r["n"]
        stages = {"decode": r["decode_s"], **{f"forward {k}": v for k, v in r["forward"].items()}}
        print(f"{r['runtime']} stages, ms per item: " + ", ".join(f"{k} {1000 * v / n:.1f}" for k, v in stages.items())
              + f"; the rest of ingest (hashing, cache, store, less the overlap) {1000 * (r['ingest_s'] - sum(stages.values())) / n:+.1f}")


def measure(args: argparse.Namespace) -> dict:
    """One runtime (this process's MMREC_RUNTIME): ingest, decode, bare forward and re-ingest seconds."""
    enc = get_encoders(args.encoder)
    # model load (and a first conversion) is neither ingest nor forward work: load every tower before timing either
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
        t = time.perf_counter()
        images = [load_image(it.image) for it in cat.items if it.image]
        clips = [load_audio(it.audio, sr=enc.audio.sample_rate) for it in cat.items if it.audio]
        decode_s = time.perf_counter() - t
        forward = {}
        for kind, inputs, step, fn in (("text", texts, 64, enc.text.encode), ("image", images, 32, enc.image.encode),
                                       ("audio", clips, 32, enc.audio.features)):
            t = time.perf_counter()
            for s in range(0, len(inputs), step):
                fn(inputs[s:s + step])
            forward[kind] = time.perf_counter() - t
        t = time.perf_counter()
        ingest(src, tmp / "store", cache=cache, encoder=args.encoder)
        re_s = time.perf_counter() - t
        ray_line = ray_run(src, tmp, args, ingest_s, n) if args.engine == "ray" else []
        shutil.rmtree(tmp / "store", ignore_errors=True)
    return {"n": n, "texts": len(texts), "images": len(images), "clips": len(clips), "ingest_s": ingest_s,
            "decode_s": decode_s, "forward": forward, "re_s": re_s, "ray": ray_line}


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
