"""Held-out evaluation of the `aligned` heads against the label bridge and random.

Protocols (all on cached features; see scripts/train_aligned.py):
- leave-one-source-out: for each training source, train on all the others, test on it (the honest numbers);
- random split: 80/20 of all training items (seeded), train on 80 %, test on the pooled 20 %;
- reserved sets (OpenClipart, Noto emoji, emojify.js): never trained or tuned on, scored with
  the model trained on every training source;
- the demo catalog (Tux Paint stamps): caption -> image over its 950 images, as
  bench/demo_quality.py at alpha = 1, with the model trained without Tux Paint.
Text -> image and image -> text: Recall@1, Recall@10, MRR (gallery = the test set's images or captions).
Usage: python bench/aligned_eval.py [--ablation] [--out assets/aligned/EVAL.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from aligned_sources import EVAL_SOURCES, TRAIN_SOURCES  # noqa: E402
from train_aligned import Data, TrainConfig, as_heads, load_data, train  # noqa: E402

from mmrec_core.vectors import l2_normalize  # noqa: E402

COLS = ("t2i_r1", "t2i_r10", "t2i_mrr", "i2t_r1", "i2t_r10", "i2t_mrr")


def ranks(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """1-based rank of gallery row i for query row i (ties count in the query's favour)."""
    sims = queries @ gallery.T
    return 1 + (sims > np.diag(sims)[:, None]).sum(1)


def scores(text: np.ndarray, image: np.ndarray) -> dict[str, float]:
    """text (n, d) captions and image (n, d), row i of each is one pair."""
    out = {}
    for name, r in (("t2i", ranks(text, image)), ("i2t", ranks(image, text))):
        out |= {f"{name}_r1": float(np.mean(r <= 1)), f"{name}_r10": float(np.mean(r <= 10)),
                f"{name}_mrr": float(np.mean(1.0 / r))}
    return out


def random_scores(n: int) -> dict[str, float]:
    mrr = float(np.sum(1.0 / np.arange(1, n + 1)) / n)
    return {"t2i_r1": 1 / n, "t2i_r10": min(1, 10 / n), "t2i_mrr": mrr, "i2t_r1": 1 / n, "i2t_r10": min(1, 10 / n),
            "i2t_mrr": mrr}


def captions(data: Data) -> np.ndarray:
    return l2_normalize(data.text_emb[[ts[0] for ts in data.texts]])


def bridge_scores(data: Data) -> dict[str, float]:
    return scores(captions(data), data.bridge)


def aligned_scores(arrays: dict[str, np.ndarray], data: Data) -> dict[str, float]:
    heads = as_heads(arrays)
    return scores(heads.text(captions(data)), heads.image(data.pooled, data.bridge))


def row(label: str, n: int, method: str, s: dict[str, float]) -> str:
    return f"| {label} | {n} | {method} | " + " | ".join(f"{s[c]:.3f}" for c in COLS) + " |"


def loso(data: Data, config: TrainConfig, names=TRAIN_SOURCES) -> dict[str, dict[str, float]]:
    out = {}
    for name in names:
        test = data.source == name
        arrays = train(data.subset(~test), config, log=False)
        out[name] = aligned_scores(arrays, data.subset(test))
        print(f"  loso {name}: t2i R@10 {out[name]['t2i_r10']:.3f} MRR {out[name]['t2i_mrr']:.3f}", file=sys.stderr)
    return out


def mean(results: dict[str, dict[str, float]]) -> dict[str, float]:
    return {c: float(np.mean([r[c] for r in results.values()])) for c in COLS}


def ablation(data: Data) -> list[str]:
    """Variants scored by the mean leave-one-source-out numbers (reserved sets never looked at)."""
    base = TrainConfig()
    variants = {
        "shipped (linear, bridge input + score mix 0.5, multi-text)": base,
        "no score mix (mix = 1)": replace(base, mix=1.0),
        "mix 0.75": replace(base, mix=0.75),
        "caption only (no extra texts)": replace(base, multi_text=False),
        "no bridge input": replace(base, use_bridge=False),
        "MLP head (512 hidden)": replace(base, mlp_hidden=512),
        "text head trained too": replace(base, train_text=True),
        "batches from one source (same-kind negatives)": replace(base, batch_by="source"),
    }
    lines = ["| variant | " + " | ".join(COLS) + " |", "|---|" + "---|" * len(COLS)]
    for label, config in variants.items():
        print(f"ablation: {label}", file=sys.stderr)
        s = mean(loso(data, config))
        lines.append(f"| {label} | " + " | ".join(f"{s[c]:.3f}" for c in COLS) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "aligned" / "EVAL.md")
    parser.add_argument("--ablation", action="store_true", help="also score the design variants (slow)")
    args = parser.parse_args()
    start = time.perf_counter()
    config = TrainConfig()
    data = load_data(list(TRAIN_SOURCES))
    head = "| test set | n | method | " + " | ".join(COLS) + " |"
    lines = [f"# aligned encoder: held-out evaluation", "",
             f"Config: `{asdict(config)}`. t2i = caption -> image, i2t = image -> caption; R@k, MRR.", "",
             "## Leave one source out (train on all other training sources)", "", head, "|---|---|---|" + "---|" * 6]
    results = loso(data, config)
    for name in TRAIN_SOURCES:
        test = data.subset(data.source == name)
        lines += [row(name, len(test), "random", random_scores(len(test))), row(name, len(test), "bridge", bridge_scores(test)),
                  row(name, len(test), "**aligned**", results[name])]
    bridge_mean = {c: float(np.mean([bridge_scores(data.subset(data.source == n))[c] for n in TRAIN_SOURCES])) for c in COLS}
    lines += [row("mean over sources", len(data), "bridge", bridge_mean), row("mean over sources", len(data), "**aligned**", mean(results))]

    rng = np.random.default_rng(0)
    test = rng.random(len(data)) < 0.2
    arrays = train(data.subset(~test), config, log=False)
    held = data.subset(test)
    lines += ["", "## Random 80/20 split of the training items (pooled 20 % gallery)", "", head, "|---|---|---|" + "---|" * 6,
              row("random 20 %", len(held), "random", random_scores(len(held))),
              row("random 20 %", len(held), "bridge", bridge_scores(held)),
              row("random 20 %", len(held), "**aligned**", aligned_scores(arrays, held))]

    full = train(data, config, log=False)
    lines += ["", "## Reserved test sets (never trained or tuned on; model trained on every training source)", "",
              head, "|---|---|---|" + "---|" * 6]
    for name in EVAL_SOURCES:
        ev = load_data([name])
        lines += [row(name, len(ev), "random", random_scores(len(ev))), row(name, len(ev), "bridge", bridge_scores(ev)),
                  row(name, len(ev), "**aligned**", aligned_scores(full, ev))]
    demo = data.subset(data.source == "tuxpaint")
    lines += ["", "## Demo catalog, caption -> image (as bench/demo_quality.py at alpha = 1)", "",
              "| model | R@1 | R@10 | MRR |", "|---|---|---|---|"]
    for label, s in (("bridge", bridge_scores(demo)), ("aligned, trained without Tux Paint", results["tuxpaint"]),
                     ("aligned, shipped (Tux Paint in training: not held out)", aligned_scores(full, demo))):
        lines.append(f"| {label} | {s['t2i_r1']:.3f} | {s['t2i_r10']:.3f} | {s['t2i_mrr']:.3f} |")
    if args.ablation:
        lines += ["", "## Design variants (mean leave-one-source-out over the training sources)", ""] + ablation(data)
    lines += ["", f"Generated by `bench/aligned_eval.py{' --ablation' if args.ablation else ''}` "
              f"in {time.perf_counter() - start:.0f}s on a shared 2-core CPU."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
