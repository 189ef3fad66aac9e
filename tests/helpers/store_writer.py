"""Writes store versions in a loop until killed (used by the kill -9 test)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mmrec_core.audio import AudioScaler  # noqa: E402
from mmrec_core.store import write_store  # noqa: E402
from mmrec_core.vectors import l2_normalize  # noqa: E402

path, n = Path(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng()
scaler = AudioScaler(np.zeros(8, np.float32), np.ones(8, np.float32))
print("ready", flush=True)
while True:
    k = int(rng.integers(1, n))
    emb = {m: l2_normalize(rng.standard_normal((k, d))) for m, d in (("text", 64), ("image", 64), ("audio", 8))}
    items = [{"id": f"i{i}", "title": "x" * int(rng.integers(0, 500))} for i in range(k)]
    write_store(path, items=items, embeddings=emb, scaler=scaler, encoder={"name": "t", "spec": "bridge"})
