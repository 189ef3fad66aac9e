"""Writes store versions in a loop until killed (used by the kill -9 tests).

Usage: store_writer.py STORE N            (whole new versions of up to N items)
       store_writer.py STORE N --grow     (add then remove batches of up to N items in place)
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mmrec_core.encoders.librosa_audio import AudioScaler  # noqa: E402
from mmrec_core.store import Rows, add_items, remove_items, write_store  # noqa: E402
from mmrec_core.vectors import l2_normalize  # noqa: E402

path, n = Path(sys.argv[1]), int(sys.argv[2])
grow = "--grow" in sys.argv
rng = np.random.default_rng()
scaler = AudioScaler(np.zeros(8, np.float32), np.ones(8, np.float32))
encoder = {"name": "t", "spec": "bridge"}


def batch(k: int, prefix: str):
    emb = {m: l2_normalize(rng.standard_normal((k, d))) for m, d in (("text", 64), ("image", 64), ("audio", 8))}
    return [{"id": f"{prefix}{i}", "title": "x" * int(rng.integers(0, 500))} for i in range(k)], emb


if grow:
    items, emb = batch(n, "base")
    write_store(path, items=items, embeddings=emb, scaler=scaler, encoder=encoder)
print("ready", flush=True)
round_ = 0
while True:
    k = int(rng.integers(1, n))
    if not grow:
        items, emb = batch(k, "i")
        write_store(path, items=items, embeddings=emb, scaler=scaler, encoder=encoder)
        continue
    round_ += 1
    items, emb = batch(k, f"r{round_}-")
    add_items(path, Rows(items, emb), encoder=encoder)
    remove_items(path, [it["id"] for it in items[: k // 2]])
