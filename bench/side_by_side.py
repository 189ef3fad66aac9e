"""Two image towers side by side: leave one kind out with an image head that reads both towers' features.

The features of each tower are the cached ones of scripts/train_aligned.py (`--tower`; extracted once per tower);
rows are the same pairs in the same order, so the image head reads the first tower's features followed by the
second's (pooled, pooled_max and mid of each), and the label bridge is the first tower's. Trained with the shipped
config and scored as bench/aligned_eval.py's leave one kind out (text -> image Recall@10 per kind, the mean over
the 45 training sources); the reserved sets are not looked at. Compare with `aligned_eval.py --ablation
tower:lite0` (ABLATION.md).
Usage: python bench/side_by_side.py [--towers lite0,lite1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

from aligned_eval import COLS, kind_out, mean, over_sources  # noqa: E402
from aligned_sources import TRAIN_SOURCES  # noqa: E402
from train_aligned import Data, TrainConfig, load_data  # noqa: E402


def side_by_side(first: Data, second: Data) -> Data:
    """One Data whose image features are the first's followed by the second's (the same rows), bridge the first's."""
    if not (np.array_equal(first.ids, second.ids) and np.array_equal(first.source, second.source)):
        raise SystemExit("the two towers' features are not of the same pairs (harvest again, then extract)")
    extra = {k: np.hstack([first.extra[k], second.extra[k]]) for k in ("pooled_max", "mid")}
    return Data(first.source, first.ids, first.category, np.hstack([first.pooled, second.pooled]), first.bridge,
                first.text_emb, first.texts, first.strings, extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towers", default="lite0,lite1", help="two Lite variants, the label bridge's first")
    args = parser.parse_args()
    a, b = args.towers.split(",")
    data = side_by_side(load_data(list(TRAIN_SOURCES), tower=a), load_data(list(TRAIN_SOURCES), tower=b))
    results = kind_out(data, TrainConfig(tower=a))
    print(f"\n{a} and {b} side by side, leave one kind out (t2i R@10, mean over each kind's sources)\n")
    print("| kind | t2i R@10 |\n|---|---|")
    for kind, r in results.items():
        print(f"| {kind} | {mean(list(r['sources'].values()))['t2i_r10']:.3f} |")
    s = over_sources(results)
    print("\nmean over sources: " + ", ".join(f"{c} {s[c]:.3f}" for c in COLS))


if __name__ == "__main__":
    main()
