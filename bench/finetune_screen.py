"""Does retraining the image tower's later blocks with the heads transfer to a kind of picture it never saw? A screen.

Leave one kind out, at the scale a 2-core CPU affords: the heads are trained on `--pairs` pairs drawn from the
sources of the other kinds, and scored on every source of the held-out kind (text -> image Recall@10, each source
its own gallery of up to `--per-source` pictures, mean over the sources), as bench/aligned_eval.py's leave-one-kind-out
does at full scale.

1. frozen: the heads alone, on the cached features (what ships);
2. tuned: from (1), the blocks after block K (the tower's first "mid" block: Lite0's block 10, Lite1/2's block
   14), the head conv and the heads trained together for `--epochs` epochs, in torch, from block K's output maps,
   computed once per picture (eager torch) and kept in memory; batch norm keeps its ImageNet statistics. The
   label bridge (ImageNet logits) stays the frozen tower's.
The same training pictures, texts, seed and batches (one source a batch) for both; only the pictures of the
held-out kind are scored, never a reserved set.
Usage: python bench/finetune_screen.py [--tower lite0] [--kind drawings] [--pairs 6000] [--epochs 2] [--lr 1e-4]
       [--per-source 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

from aligned_eval import mean, pair_scores, scores, trained  # noqa: E402
from aligned_sources import SOURCES, TRAIN_SOURCES, pairs  # noqa: E402
from train_aligned import Data, TrainConfig, _batches, info_nce, load_data, prompted, train  # noqa: E402

from mmrec_core.catalog import load_image  # noqa: E402
from mmrec_core.encoders import _towers, torch_threads  # noqa: E402
from mmrec_core.encoders.bridge import lite_array  # noqa: E402


def image_paths(data: Data) -> list[str]:
    where = {(p.source, p.id): p.image for n in dict.fromkeys(map(str, data.source)) for p in pairs(n)}
    return [where[(str(s), str(i))] for s, i in zip(data.source, data.ids)]


def early_maps(model, paths: list[str], block: int, size: int) -> "torch.Tensor":
    """Block `block`'s output for each picture, float16 (n, C, H, W), eager torch, in batches of 32."""
    import torch

    out = []
    start = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(paths), 32):
            x = torch.from_numpy(lite_array([load_image(p) for p in paths[s:s + 32]], size))
            h = model._swish(model._bn0(model._conv_stem(x)))
            for blk in model._blocks[: block + 1]:
                h = blk(h)
            out.append(h.half())
            print(f"\r  maps {min(s + 32, len(paths))}/{len(paths)} ({(s + 32) / (time.perf_counter() - start):.0f}/s)",
                  end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return torch.cat(out)


def later(model, maps: "torch.Tensor", block: int, mid_blocks: tuple[int, ...], names: tuple[str, ...]) -> "torch.Tensor":
    """The tower from block `block`'s output on: the image features `names` (as _towers._lite_levels gives them)."""
    import torch

    h = maps.float()
    mid = [h.mean((2, 3))] if block in mid_blocks else []
    for idx in range(block + 1, len(model._blocks)):
        h = model._blocks[idx](h)
        if idx in mid_blocks:
            mid.append(h.mean((2, 3)))
    head = model._swish(model._bn1(model._conv_head(h)))
    got = {"pooled": head.mean((2, 3)), "pooled_max": head.amax((2, 3)), "mid": torch.cat(mid, 1)}
    return torch.cat([got[n] for n in names], 1)


def tune(data: Data, maps, arrays: dict[str, np.ndarray], config: TrainConfig, model, block: int,
         epochs: int, lr: float) -> None:
    """The later blocks, the head conv and the heads trained together (in place on `model`; arrays updated)."""
    import torch

    variant = _towers.LITE[config.tower]
    params = [p for blk in model._blocks[block + 1:] for p in blk.parameters()]
    params += list(model._conv_head.parameters()) + list(model._bn1.parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    heads = {k: torch.from_numpy(np.array(v, dtype=np.float32)).requires_grad_(True)
             for k, v in arrays.items() if k in ("text_w", "text_b", "img_w", "bridge_w", "img_b")}
    mean_, std_ = (torch.from_numpy(arrays[k]) for k in ("img_mean", "img_std"))
    log_t = torch.tensor(float(np.log(config.temperature)), requires_grad=True)
    text = torch.from_numpy(data.text_emb / np.linalg.norm(data.text_emb, axis=1, keepdims=True))
    bridge = torch.from_numpy(data.bridge)
    opt = torch.optim.AdamW([{"params": params, "lr": lr, "weight_decay": 0.0},
                             {"params": [*heads.values(), log_t], "lr": lr, "weight_decay": 0.0}])
    rng = np.random.default_rng(config.seed)
    model.eval()  # batch norm keeps ImageNet's statistics
    start = time.perf_counter()
    for epoch in range(epochs):
        total, seen = 0.0, 0
        pick = np.array([ts[rng.integers(len(ts))] for ts in data.texts])
        for idx in _batches(data, config, rng):
            tid = torch.from_numpy(pick[idx])
            f = (later(model, maps[idx], block, variant.mid_blocks, config.image_features) - mean_) / std_
            f = torch.nn.functional.dropout(f, config.dropout)
            z = torch.nn.functional.normalize(f @ heads["img_w"] + bridge[idx] @ heads["bridge_w"] + heads["img_b"], dim=1)
            t = torch.nn.functional.normalize(text[tid] @ heads["text_w"] + heads["text_b"], dim=1)
            loss = info_nce(t, z, tid, log_t)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, seen = total + float(loss.detach()) * len(idx), seen + len(idx)
        print(f"  tuned epoch {epoch + 1}/{epochs}: loss {total / seen:.4f} ({seen / (time.perf_counter() - start) * (epoch + 1):.0f} "
              "pictures/s)", file=sys.stderr)
    with torch.no_grad():
        arrays.update({k: v.numpy().copy() for k, v in heads.items()})


def features_through(model, maps, block: int, config: TrainConfig) -> np.ndarray:
    import torch

    variant = _towers.LITE[config.tower]
    with torch.inference_mode():
        return np.concatenate([later(model, maps[s:s + 128], block, variant.mid_blocks, config.image_features).numpy()
                               for s in range(0, len(maps), 128)])


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tower", default="lite0", choices=list(_towers.LITE))
    parser.add_argument("--kind", default="drawings", help="the kind held out (scored), as aligned_sources names kinds")
    parser.add_argument("--pairs", type=int, default=6000, help="training pairs drawn from the other kinds")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--per-source", type=int, default=300, help="test pictures per held-out source, drawn at random (0: all)")
    args = parser.parse_args()
    torch_threads()
    torch.manual_seed(0)
    config = TrainConfig(tower=args.tower)
    held = [n for n in TRAIN_SOURCES if SOURCES[n].kind == args.kind]
    data = load_data([n for n in TRAIN_SOURCES], tower=args.tower)
    rng = np.random.default_rng(0)
    pool = np.flatnonzero(~np.isin(data.source, held))
    train_rows = np.sort(rng.choice(pool, min(args.pairs, len(pool)), replace=False))
    test_rows = [rows if not args.per_source or len(rows) <= args.per_source else rng.choice(rows, args.per_source, replace=False)
                 for rows in (np.flatnonzero(data.source == n) for n in held)]
    test = data.subset(np.isin(np.arange(len(data)), np.concatenate(test_rows)))
    sub = prompted(data.subset(np.isin(np.arange(len(data)), train_rows)), config)
    print(f"{args.tower}: {len(sub)} training pairs from the other kinds; {len(test)} test pictures in {len(held)} "
          f"{args.kind} sources", file=sys.stderr)

    arrays = train(sub, config, log=False)
    frozen = {n: pair_scores(trained(arrays, config), test.subset(test.source == n)) for n in held}

    block = _towers.LITE[args.tower].mid_blocks[0]
    model = _towers.lite_model(args.tower).to(memory_format=torch.contiguous_format)
    size = _towers.LITE[args.tower].size
    maps = early_maps(model, image_paths(sub), block, size)
    tuned = dict(arrays)
    t0 = time.perf_counter()
    tune(sub, maps, tuned, config, model, block, args.epochs, args.lr)
    tune_s = time.perf_counter() - t0
    del maps
    test_maps = early_maps(model, image_paths(test), block, size)
    feats = features_through(model, test_maps, block, config)
    heads = trained(tuned, config).heads
    got = {}
    for n in held:
        mask = test.source == n
        part = test.subset(mask)
        text, _ = trained(tuned, config).embed(part)
        got[n] = scores(text, heads.image(feats[mask], part.bridge))
    print(f"\n{args.tower}, {args.kind} held out, {len(sub)} training pairs, {args.epochs} epochs at lr {args.lr:g} "
          f"from block {block} ({tune_s:.0f} s of tuning)")
    print("| source | frozen t2i R@10 | tuned t2i R@10 |\n|---|---|---|")
    for n in held:
        print(f"| {n} | {frozen[n]['t2i_r10']:.3f} | {got[n]['t2i_r10']:.3f} |")
    print(f"| mean over {len(held)} sources | {mean(list(frozen.values()))['t2i_r10']:.3f} | "
          f"{mean(list(got.values()))['t2i_r10']:.3f} |")


if __name__ == "__main__":
    main()
