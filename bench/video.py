"""Video: ingest speed against images on the same machine, in one run, and text -> video retrieval on real clips.

(1) Ingest, models warm, empty cache each time: the 30 clips of assets/video (frames + soundtracks) and
30 demo images with their sounds; items/s, frames/s and seconds per item, side by side.
(2) Text -> video on assets/video: its queries.csv (short phrases, not the captions) against the
clips' frames only (alpha = 1: the pooled frame vectors are the items' image vectors), and against
the captions (alpha = 0) for reference. Prints one JSON line per measurement.
Usage: python bench/video.py [--encoder SPEC]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core.ingest import EmbeddingCache  # noqa: E402
from mmrec_core.encoders import DEFAULT_ENCODER, get_encoders  # noqa: E402
from mmrec_core.insight import evaluate, load_qrels, load_queries  # noqa: E402
from mmrec_core.retrieval import Weights  # noqa: E402
from mmrec_core.ingest import ingest  # noqa: E402
from mmrec_core.query import Engine  # noqa: E402

VIDEOS = ROOT / "assets" / "video"
DEMO = ROOT / "assets" / "demo"


def demo_images(dest: Path, n: int) -> Path:
    """The first n demo items that have an image (and their sounds), as a catalog of its own."""
    with open(DEMO / "catalog.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = [r for r in reader if r["image"]][:n]
        fields = reader.fieldnames
    dest.mkdir(parents=True)
    with open(dest / "catalog.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        for col in ("image", "audio"):
            if r[col]:
                (dest / r[col]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(DEMO / r[col], dest / r[col])
    return dest


def timed_ingest(src: Path, store: Path, encoder: str) -> dict:
    cache = EmbeddingCache(None)  # nothing cached, nothing written: every item is decoded and encoded
    t = time.perf_counter()
    report = ingest(src, store, cache=cache, encoder=encoder)
    seconds = time.perf_counter() - t
    n = len(report.store.items)
    return {"items": n, "seconds": round(seconds, 2), "items_per_s": round(n / seconds, 2),
            "s_per_item": round(seconds / n, 3), "frames": len(report.store.frames),
            "frames_per_s": round(len(report.store.frames) / seconds, 1), "counts": report.store.counts(),
            "problems": len(report.problems)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    args = parser.parse_args()
    enc = get_encoders(args.encoder)
    from PIL import Image
    import numpy as np

    enc.text.encode(["warm up"])  # model load is not ingest work
    enc.image.encode([Image.new("RGB", (64, 64), "white")])
    enc.audio.features([np.zeros(22050, np.float32)])
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        n_clips = sum(1 for _ in open(VIDEOS / "catalog.csv", encoding="utf-8")) - 1
        images = demo_images(tmp_path / "images", n_clips)
        video_run = timed_ingest(VIDEOS, tmp_path / "videos", args.encoder)
        image_run = timed_ingest(images, tmp_path / "imgs", args.encoder)
        print(json.dumps({"bench": "ingest", "encoder": args.encoder, "video": video_run, "image": image_run,
                          "video_to_image_items_per_s": round(video_run["items_per_s"] / image_run["items_per_s"], 3)}))
        engine = Engine(ingest(VIDEOS, tmp_path / "videos", encoder=args.encoder).store)
        queries, qrels = load_queries(VIDEOS / "queries.csv"), load_qrels(VIDEOS / "qrels.csv")
        for name, weights in (("text -> video frames (alpha 1)", Weights.from_alpha(1.0, audio=0.0)),
                              ("text -> captions (alpha 0)", Weights.from_alpha(0.0, audio=0.0)),
                              ("text -> frames + captions (alpha 0.5)", Weights.from_alpha(0.5, audio=0.0))):
            result = evaluate(engine, queries, qrels, weights, k=10)
            print(json.dumps({"bench": "retrieval", "what": name, "clips": len(engine.store.items),
                              "random_recall@10": round(10 / len(engine.store.items), 4),
                              **{k: round(v, 4) for k, v in result.items()}}))


if __name__ == "__main__":
    main()
