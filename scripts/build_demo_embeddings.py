"""Precompute the demo catalog's embeddings into assets/demo/embeddings-seed.npz.

The seed is read as a read-only layer of the embedding cache (keyed by encoder name and
content hash), so a new user's first `make run` ingests the demo in seconds instead of
minutes on a slow CPU. A test re-encodes a sample and checks it matches the seed.
Usage: python scripts/build_demo_embeddings.py [--encoder aligned+aisfx --encoder bridge]  (default: both;
between them they cover `aligned` too: its text/image are aligned's, its audio is librosa like bridge's)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core.ingest import EmbeddingCache  # noqa: E402
from mmrec_core.ingest import SEED_FILE, ingest  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=str(ROOT / "assets" / "demo"))
    parser.add_argument("--encoder", action="append", help="repeatable; default: aligned+aisfx and bridge")
    args = parser.parse_args()
    catalog = Path(args.catalog)
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(Path(tmp) / "cache.sqlite")  # fresh: every vector computed now, no stale seed
        for encoder in args.encoder or ["aligned+aisfx", "bridge"]:
            start = time.perf_counter()
            report = ingest(catalog, Path(tmp) / encoder, encoder=encoder, cache=cache,
                            progress=lambda s, d, t: print(f"\r{s}: {d}/{t}", end="\n" if d >= t else "", flush=True))
            if report.warning:
                raise SystemExit(report.warning)
            print(f"{encoder}: encoded {report.encoded} in {time.perf_counter() - start:.1f} s")
        entries = cache.entries()
        count = cache.export_seed(catalog / SEED_FILE, entries)
    size = (catalog / SEED_FILE).stat().st_size
    print(f"wrote {count} vectors for {sorted(entries)} to {catalog / SEED_FILE} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
