"""Held-out evaluation of the `aligned` heads against the label bridge, random and the previous checkpoint.

Protocols (all on cached features; see scripts/train_aligned.py):
- leave one kind out: the training sources are grouped by kind (drawings, icons, emoji, pixel art,
  flags); for each kind, train on every source of the other kinds and test on each source of this
  kind (gallery = that source's images or captions): no picture of the held-out kind was seen;
- leave one source out over the seven Debian sources of the first checkpoint (train on everything
  else, the Iconify sets included), comparable with its table;
- reserved sets (OpenClipart, Noto emoji, emojify.js): never trained, tuned or chosen on, scored with
  the model trained on every training source;
- the demo catalog (Tux Paint stamps): caption -> image over its 950 images, as bench/demo_quality.py
  at alpha = 1, with the shipped model (Tux Paint in training) and the one trained without it.
Text -> image and image -> text: Recall@1, Recall@10, MRR. Image -> image: the same thing drawn by
another artist, i.e. for an image whose caption another source of the test set also has, is one of
those images in its 10 nearest (R@10) and how high is the first (MRR); the image itself excluded.
Usage: python bench/aligned_eval.py [--previous OLD.npz] [--out assets/aligned/EVAL.md]
       python bench/aligned_eval.py --ablation [VARIANT ...]   (design variants -> assets/aligned/ABLATION.md)
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

from aligned_sources import EVAL_SOURCES, SOURCES, TRAIN_SOURCES  # noqa: E402
from train_aligned import (Data, TrainConfig, checkpoint_meta, load_data, pretrained_tail_arrays, prompted,  # noqa: E402
                           save, tower_spec, train, with_tail)

from mmrec_core.encoders._towers import LITE, lites  # noqa: E402
from mmrec_core.encoders.aligned import Heads, load_heads  # noqa: E402
from mmrec_core.vectors import l2_normalize  # noqa: E402

COLS = ("t2i_r1", "t2i_r10", "t2i_mrr", "i2t_r1", "i2t_r10", "i2t_mrr")
FIRST = ("tuxpaint", "scratch", "art4apps", "furniture", "minetest", "flags", "icons")  # the first checkpoint's
KINDS = tuple(dict.fromkeys(SOURCES[n].kind for n in TRAIN_SOURCES))


def ranks(queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
    """1-based rank of gallery row targets[i] (default: row i) for query row i (ties count in the query's favour)."""
    targets = np.arange(len(queries)) if targets is None else np.asarray(targets)
    out = np.empty(len(queries), dtype=np.int64)
    for s in range(0, len(queries), 2048):
        sims = queries[s : s + 2048] @ gallery.T
        own = sims[np.arange(len(sims)), targets[s : s + len(sims)]]
        out[s : s + len(sims)] = 1 + (sims > own[:, None]).sum(1)
    return out


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


class Model:
    """A way to embed captions and images of a Data: the bridge, trained arrays, or a saved checkpoint."""

    def __init__(self, heads: Heads | None) -> None:
        self.heads = heads

    def embed(self, data: Data) -> tuple[np.ndarray, np.ndarray]:
        if self.heads is None:
            return captions(data), l2_normalize(data.bridge)
        p = self.heads.meta.get("prompt", {})
        test = prompted(data, TrainConfig(template=p.get("template", ""), max_words=p.get("max_words", 0)))
        names = self.heads.image_features
        if self.heads.tail is not None:
            data = with_tail(data, self.heads.tail, names)
        return self.heads.text(captions(test)), self.heads.image(data.image_input(names), data.bridge)


BRIDGE = Model(None)


def trained(arrays: dict[str, np.ndarray], config: TrainConfig) -> Model:
    return Model(Heads(arrays, "unsaved", {"prompt": config.prompt, "image_features": list(config.image_features),
                                           "tower": config.tower}))


def pair_scores(model: Model, data: Data) -> dict[str, float]:
    return scores(*model.embed(data))


def same_thing(model: Model, data: Data) -> dict[str, float] | None:
    """Image -> image across artists: R@10 and MRR of the first image of the same caption from another source."""
    caption = np.array([data.strings[ts[0]].lower().strip() for ts in data.texts])
    keys, inverse = np.unique(caption, return_inverse=True)
    queries = [i for i in range(len(data)) if len(set(data.source[inverse == inverse[i]])) > 1]
    if len(queries) < 20:
        return None
    _, image = model.embed(data)
    first = []
    for s in range(0, len(queries), 1024):
        q = np.array(queries[s : s + 1024])
        sims = image[q] @ image.T
        sims[np.arange(len(q)), q] = -np.inf
        target = (inverse[None, :] == inverse[q][:, None]) & (data.source[None, :] != data.source[q][:, None])
        best = np.where(target, sims, -np.inf).max(1)
        first += list(1 + (sims > best[:, None]).sum(1))
    r = np.array(first)
    return {"i2i_n": len(queries), "i2i_r10": float(np.mean(r <= 10)), "i2i_mrr": float(np.mean(1.0 / r))}


def row(label: str, n: int, method: str, s: dict[str, float]) -> str:
    return f"| {label} | {n} | {method} | " + " | ".join(f"{s[c]:.3f}" for c in COLS) + " |"


def mean(results: list[dict[str, float]]) -> dict[str, float]:
    return {c: float(np.mean([r[c] for r in results])) for c in results[0]}


_JOB: tuple[Data, TrainConfig] | None = None  # what the forked training workers read (never pickled)


def _train_without(test: np.ndarray) -> dict[str, np.ndarray]:
    import torch

    torch.set_num_threads(1)
    data, config = _JOB
    return train(data.subset(~test), config, log=False)


def train_without(data: Data, config: TrainConfig, tests: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """One model per held-out mask (trained on the rest, prompted), in parallel: a process per core, one thread
    each (small batches use two threads poorly); forked, so the features are shared, not copied."""
    import multiprocessing
    import os

    global _JOB
    _JOB = (prompted(data, config), config)
    if config.tail_epochs:
        pretrained_tail_arrays(config.tower)  # loaded once, before the fork
    try:
        with multiprocessing.get_context("fork").Pool(min(len(tests), os.cpu_count() or 1)) as pool:
            return pool.map(_train_without, tests)
    finally:
        _JOB = None


def kind_out(data: Data, config: TrainConfig) -> dict[str, dict]:
    """Leave one kind out: per held-out kind, the model trained without it, scored on each of its sources."""
    out = {}
    tests = [np.isin(data.source, [n for n in TRAIN_SOURCES if SOURCES[n].kind == kind]) for kind in KINDS]
    for kind, test, arrays in zip(KINDS, tests, train_without(data, config, tests)):
        model = trained(arrays, config)
        held = data.subset(test)
        per = {n: pair_scores(model, held.subset(held.source == n)) for n in np.unique(held.source)}
        out[kind] = {"sources": per, "model": model, "data": held, "arrays": arrays}
        print(f"  kind out {kind}: t2i R@10 {mean(list(per.values()))['t2i_r10']:.3f} over {len(per)} sources",
              file=sys.stderr)
    return out


def over_sources(results: dict[str, dict]) -> dict[str, float]:
    """Mean over every source (each scored with its kind held out)."""
    return mean([s for r in results.values() for s in r["sources"].values()])


def source_out(data: Data, config: TrainConfig, names=FIRST) -> dict[str, dict[str, float]]:
    out = {}
    tests = [data.source == name for name in names]
    for name, test, arrays in zip(names, tests, train_without(data, config, tests)):
        out[name] = pair_scores(trained(arrays, config), data.subset(test))
        print(f"  source out {name}: t2i R@10 {out[name]['t2i_r10']:.3f}", file=sys.stderr)
    return out


def variants(base: TrainConfig) -> dict[str, tuple[str, TrainConfig]]:
    """The design variants of `--ablation`: key -> (label, config)."""
    feats = {"pooled": ("pooled",), "max": ("pooled", "pooled_max"), "mid": ("pooled", "mid"),
             "max+mid": ("pooled", "pooled_max", "mid")}
    out = {f"features:{k}": (f"image head reads {' + '.join(v)}", replace(base, image_features=v))
           for k, v in feats.items()}
    out["no-template"] = ("no prompt template", replace(base, template="", max_words=0))
    out["template"] = ("prompt template 'a picture of a {}' on texts of up to 3 words, training and query",
                       replace(base, template="a picture of a {}", max_words=3))
    out["one-source-batches"] = ("each batch from one source (harder negatives: the same kind of picture)",
                                 replace(base, batch_by="source"))
    out["mixed-batches"] = ("mixed batches", replace(base, batch_by=""))
    out["epochs:40"] = ("40 epochs", replace(base, epochs=40))
    out["frozen"] = ("frozen towers (heads only)", replace(base, tail_epochs=0))
    for k in (1, 2, 4):
        out[f"tail:{k}"] = (f"then the tower's head conv retrained with the heads, {k} epoch{'s' * (k > 1)}",
                            replace(base, tail_epochs=k))
    for name, lite in LITE.items():
        out[f"tower:{name}"] = (f"image tower EfficientNet-{name.capitalize()} ({lite.size} px)", replace(base, tower=name))
    for spec in ("lite0+lite1", "lite0+lite2"):
        named = " and ".join(f"EfficientNet-{v.name.capitalize()}" for v in lites(spec))
        out[f"tower:{spec}"] = (f"image towers {named} side by side", replace(base, tower=spec))
    return out


def ablation(data: Data, base: TrainConfig, keys: list[str]) -> list[str]:
    """Variants scored by leave one kind out (mean over sources); reserved sets never looked at."""
    known = variants(base)
    lines = ["| variant | " + " | ".join(COLS) + " |", "|---|" + "---|" * len(COLS)]
    done: dict[TrainConfig, dict[str, float]] = {}
    for key in keys:
        label, config = known[key]
        print(f"ablation: {label}", file=sys.stderr)
        if config.tower != base.tower:  # features through another tower: loaded (extracted once) for this variant
            data = load_data(list(TRAIN_SOURCES), tower=config.tower)
        if config not in done:
            done[config] = over_sources(kind_out(data, config))
        s = done[config]
        label = f"**{label} (shipped)**" if config == base else label
        lines.append(f"| {label} | " + " | ".join(f"{s[c]:.3f}" for c in COLS) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "aligned" / "EVAL.md")
    parser.add_argument("--ablation", nargs="*", metavar="VARIANT",
                        help="score design variants instead (slow; all without a name), into assets/aligned/ABLATION.md; "
                             f"variants: {', '.join(variants(TrainConfig()))}")
    parser.add_argument("--previous", type=Path, help="an older checkpoint to score beside (on its own towers)")
    parser.add_argument("--tower", type=tower_spec, default=TrainConfig.tower,
                        help="the EfficientNet-Lite variant, or several side by side (lite0+lite1)")
    parser.add_argument("--save", type=Path, help="also save the model trained on every training source as a checkpoint "
                                                   "(what scripts/train_aligned.py writes, without training it twice)")
    args = parser.parse_args()
    start = time.perf_counter()
    config = TrainConfig(tower=args.tower)
    data = load_data(list(TRAIN_SOURCES), tower=config.tower)
    if args.ablation is not None:
        out = args.out.with_name("ABLATION.md") if args.out.name == "EVAL.md" else args.out
        lines = ["# aligned encoder: design variants", "",
                 f"Leave one kind out (see EVAL.md), mean over the {len(TRAIN_SOURCES)} training sources; the reserved "
                 f"sets are not looked at. Shipped config: `{asdict(config)}`.", "", *ablation(data, config, args.ablation or list(variants(config))), "",
                 f"Generated by `bench/aligned_eval.py --ablation` in {time.perf_counter() - start:.0f}s."]
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print("\n".join(lines))
        return
    previous = [("previous checkpoint", Model(load_heads(args.previous)))] if args.previous else []
    head = "| test set | n | method | " + " | ".join(COLS) + " |"
    rule = "|---|---|---|" + "---|" * 6
    lines = ["# aligned encoder: held-out evaluation", "",
             f"Config: `{asdict(config)}`. {len(data):,} training pairs from {len(TRAIN_SOURCES)} sources. "
             "t2i = caption -> image, i2t = image -> caption; R@k, MRR; i2i = the same thing by another artist.", ""]

    by_kind = kind_out(data, config)
    lines += ["## Leave one kind out (train on every source of the other kinds)", "",
              "Per kind: the mean over its sources, each source its own gallery.", "", head, rule]
    for kind, r in by_kind.items():
        names = list(r["sources"])
        held = r["data"]
        n = len(held)
        lines += [row(f"{kind} ({len(names)} sources)", n, "bridge",
                      mean([pair_scores(BRIDGE, held.subset(held.source == s)) for s in names])),
                  row(f"{kind} ({len(names)} sources)", n, "**aligned**", mean(list(r["sources"].values())))]
    bridge_all = mean([pair_scores(BRIDGE, r["data"].subset(r["data"].source == s))
                       for r in by_kind.values() for s in r["sources"]])
    lines += [row("mean over sources", len(data), "bridge", bridge_all),
              row("mean over sources", len(data), "**aligned**", over_sources(by_kind))]
    lines += ["", "Image -> image, the held-out kind's sources pooled:", "",
              "| kind | queries | method | i2i_r10 | i2i_mrr |", "|---|---|---|---|---|"]
    for kind, r in by_kind.items():
        for method, model in (("bridge", BRIDGE), ("**aligned**", r["model"])):
            if s := same_thing(model, r["data"]):
                lines.append(f"| {kind} | {s['i2i_n']} | {method} | {s['i2i_r10']:.3f} | {s['i2i_mrr']:.3f} |")

    first = source_out(data, config)
    lines += ["", "## Leave one source out: the first checkpoint's seven sources (train on all the others)", "",
              head, rule]
    for name in FIRST:
        test = data.subset(data.source == name)
        lines += [row(name, len(test), "bridge", pair_scores(BRIDGE, test)),
                  row(name, len(test), "**aligned**", first[name])]
    lines += [row("mean over the seven", sum(int((data.source == n).sum()) for n in FIRST), "bridge",
                  mean([pair_scores(BRIDGE, data.subset(data.source == n)) for n in FIRST])),
              row("mean over the seven", sum(int((data.source == n).sum()) for n in FIRST), "**aligned**",
                  mean(list(first.values())))]

    t0 = time.perf_counter()
    arrays = train(prompted(data, config), config, log=False)
    full_s = time.perf_counter() - t0
    full = trained(arrays, config)
    if args.save:
        save(arrays, args.save, checkpoint_meta(data, config, full_s))
        print(f"saved the model trained on every training source -> {args.save}", file=sys.stderr)
    lines += ["", "## Reserved and unseen test sets (never trained, tuned or chosen on; model trained on every training source)",
              "", head, rule]
    towers = {config.tower} | {m.heads.tower for _, m in previous if m.heads}  # a previous checkpoint: its own towers
    reserved = {t: {name: load_data([name], tower=t) for name in EVAL_SOURCES} for t in towers}
    for name, ev in reserved[config.tower].items():
        lines += [row(name, len(ev), "random", random_scores(len(ev))), row(name, len(ev), "bridge", pair_scores(BRIDGE, ev))]
        lines += [row(name, len(ev), label, pair_scores(m, reserved[m.heads.tower][name])) for label, m in previous]
        lines.append(row(name, len(ev), "**aligned**", pair_scores(full, ev)))
    pooled = {t: load_data(list(EVAL_SOURCES), tower=t) for t in towers}
    lines += ["", "Image -> image, the reserved sets pooled (same caption in two of them):", "",
              "| set | queries | method | i2i_r10 | i2i_mrr |", "|---|---|---|---|---|"]
    for method, model in [("bridge", BRIDGE), *previous, ("**aligned**", full)]:
        if s := same_thing(model, pooled[model.heads.tower if model.heads else config.tower]):
            lines.append(f"| reserved, pooled | {s['i2i_n']} | {method} | {s['i2i_r10']:.3f} | {s['i2i_mrr']:.3f} |")

    demo = data.subset(data.source == "tuxpaint")
    without = source_out(data, config, names=("tuxpaint",))["tuxpaint"] if "tuxpaint" not in first else first["tuxpaint"]
    lines += ["", "## Demo catalog, caption -> image (as bench/demo_quality.py at alpha = 1)", "",
              "| model | R@1 | R@10 | MRR |", "|---|---|---|---|"]
    rows = [("bridge", pair_scores(BRIDGE, demo)),
            *((label, pair_scores(m, load_data(["tuxpaint"], tower=m.heads.tower))) for label, m in previous),
            ("aligned, trained without Tux Paint", without),
            ("aligned, shipped (Tux Paint in training: not held out)", pair_scores(full, demo))]
    lines += [f"| {label} | {s['t2i_r1']:.3f} | {s['t2i_r10']:.3f} | {s['t2i_mrr']:.3f} |" for label, s in rows]
    lines += ["", f"Training on all {len(data):,} pairs: {full_s:.0f}s. Generated by `bench/aligned_eval.py` "
              f"in {time.perf_counter() - start:.0f}s on a shared 2-core CPU."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
