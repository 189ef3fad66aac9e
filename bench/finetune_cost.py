"""What fine-tuning the whole image tower would cost on this CPU: EfficientNet-Lite0 (the `aligned` encoder's
tower) at inference against a training step (forward, backward, AdamW step), images/s side by side.

Rounds are interleaved (inference and training once per round, the first round dropped), so a busy machine
slows both alike. From the training rate it prints the time of one epoch over the training pairs and of one
held-out evaluation (`bench/aligned_eval.py` trains 5 leave-one-kind-out models, 7 leave-one-source-out
models and 1 on every source), at the epochs asked.
Usage: python bench/finetune_cost.py [--rounds 4] [--batch 32] [--pairs 53621] [--epochs 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

MODELS_PER_EVALUATION = 5 + 7 + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--pairs", type=int, default=53_621, help="training pairs (the shipped checkpoint's)")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    import torch

    from train_aligned import towers  # the aligned encoder's towers, loaded as training loads them

    net = towers()[1].model
    opt = torch.optim.AdamW(net.parameters(), lr=1e-5)
    x = torch.randn(args.batch, 3, 224, 224).contiguous(memory_format=torch.channels_last)

    def infer() -> None:
        net.eval()
        with torch.inference_mode():
            net(x)

    def step() -> None:
        net.train()
        opt.zero_grad()
        net(x).float().pow(2).mean().backward()
        opt.step()

    times: dict[str, list[float]] = {"inference": [], "training step": []}
    for r in range(args.rounds + 1):
        for name, fn in (("inference", infer), ("training step", step)):
            t = time.perf_counter()
            fn()
            if r:  # the first round warms up
                times[name].append(time.perf_counter() - t)
    rate = {k: args.batch / float(np.median(v)) for k, v in times.items()}
    for k, v in rate.items():
        print(f"{k:>14}: {v:6.1f} images/s  ({torch.get_num_threads()} threads, batch {args.batch})")
    print(f"training / inference: {rate['training step'] / rate['inference']:.2f}x")
    epoch = args.pairs / rate["training step"]
    print(f"one epoch over {args.pairs:,} pairs: {epoch / 60:.0f} min; one held-out evaluation "
          f"({MODELS_PER_EVALUATION} models x {args.epochs} epochs): {MODELS_PER_EVALUATION * args.epochs * epoch / 3600:.1f} h")


if __name__ == "__main__":
    main()
