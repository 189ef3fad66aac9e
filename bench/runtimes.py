"""The towers mmrec ships, on each runtime, side by side: items/s and the share of the CPU's FMA ceiling.

The towers are the library's own (mmrec_core/encoders/_towers.py: MiniLM-L6-v2, EfficientNet-Lite0 with every
feature level, aisfx), loaded through the runtime seam exactly as the encoders load them; only the forward pass is
timed, on inputs made once (64 demo captions, 32 demo images at 224 px, 32 log-mel blocks). Rounds interleave the
runtimes (every runtime once per round, the first round dropped), so a busy machine slows them alike: read the
ratios. Multiply-adds are counted once with torch hooks on every Conv2d and Linear (attention's own products
are left out, so MiniLM's share is a little low); the ceiling is cores x 2 FMA units x float32 lanes (16 with AVX-512, 8 with AVX2) x clock.
Usage: python bench/runtimes.py [--rounds 5] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mmrec_core.catalog import load_catalog  # noqa: E402
from mmrec_core.catalog._media import load_image  # noqa: E402
from mmrec_core.encoders import _runtime, _towers  # noqa: E402
from mmrec_core.encoders.bridge import lite_array  # noqa: E402


def inputs() -> dict[str, tuple[np.ndarray, ...]]:
    """Per tower, one batch of real inputs (numpy, as the encoders pass them)."""
    from tokenizers import Tokenizer

    items = load_catalog(ROOT / "assets" / "demo").items
    tok = Tokenizer.from_file(str(_towers.minilm_path() / "tokenizer.json"))
    tok.enable_truncation(128)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch([it.text for it in items[:64]])
    ids = np.array([e.ids for e in enc], np.int64)
    mask = np.array([e.attention_mask for e in enc], np.int64)
    images = lite_array([load_image(it.image) for it in items if it.image][:32])
    blocks = np.random.default_rng(0).random((32, 100, 96), dtype=np.float32)
    return {"minilm-l6-v2": (ids, mask), "effnetlite0-levels": (images,), "aisfx-xsce-v1": (blocks,)}


def macs(tower: _runtime.Tower, batch: tuple[np.ndarray, ...]) -> float:
    """Multiply-adds of one forward pass over `batch` in Conv2d and Linear layers (torch hooks)."""
    import torch

    module, _ = tower.build()
    total = [0.0]

    def hook(layer, args, out):
        if isinstance(layer, torch.nn.Conv2d):
            total[0] += out.numel() * layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, torch.nn.Linear):
            total[0] += out.numel() * layer.in_features

    for layer in module.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            layer.register_forward_hook(hook)
    with torch.inference_mode():
        module(*[torch.from_numpy(x) for x in batch])
    return total[0]


def ceiling(cores: int) -> tuple[float, str]:
    """Multiply-adds per second of FMA on `cores` cores: 2 units x 16 float32 lanes a cycle with AVX-512 (8 with
    AVX2), at the clock /proc/cpuinfo reports (a boost clock above it, or Winograd convolutions, can pass it)."""
    try:
        info = open("/proc/cpuinfo").read()
        mhz = max(float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz"))
    except (OSError, ValueError):
        info, mhz = "", 2500.0
    lanes, isa = (16, "AVX-512") if " avx512f" in info else (8, "AVX2")
    return cores * 2 * lanes * mhz * 1e6, f"{isa}, {mhz:.0f} MHz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=_runtime.threads())
    args = parser.parse_args()
    os.environ["MMREC_THREADS"] = str(args.threads)
    towers = {"minilm-l6-v2": _towers.minilm_tower(), "effnetlite0-levels": _towers.lite_tower()}
    try:
        towers["aisfx-xsce-v1"] = _towers.aisfx_tower()
    except Exception as exc:  # noqa: BLE001
        print(f"aisfx left out: {exc}")
    data = inputs()
    loaded = {(name, rt): _runtime.load(t, runtime=rt) for name, t in towers.items() for rt in _runtime.RUNTIMES}
    times: dict[tuple[str, str], list[float]] = {key: [] for key in loaded}
    for r in range(args.rounds + 1):
        for key, forward in loaded.items():
            start = time.perf_counter()
            forward(*data[key[0]])
            if r:
                times[key].append(time.perf_counter() - start)
    peak, isa = ceiling(args.threads)
    print(f"{args.threads} threads; FMA ceiling {peak / 1e9:.0f} G multiply-adds/s ({isa}); median of {args.rounds} rounds")
    print("| tower | batch | runtime | items/s | G multiply-adds/s | share of ceiling | vs torch |")
    print("|---|---|---|---|---|---|---|")
    for name, tower in towers.items():
        work = macs(tower, data[name])
        n = len(data[name][0])
        base = statistics.median(times[(name, "torch")])
        for rt in _runtime.RUNTIMES:
            s = statistics.median(times[(name, rt)])
            print(f"| {name} | {n} | {rt} | {n / s:.0f} | {work / s / 1e9:.1f} | {work / s / peak:.0%} | {base / s:.2f}x |")


if __name__ == "__main__":
    main()
