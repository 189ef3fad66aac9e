"""Train the `aligned` encoder's heads: frozen MiniLM / EfficientNet-Lite features, InfoNCE on harvested pairs.

Pipeline (seeded, reproducible, every step cached under .mmrec/aligned-cache/):
1. pairs: scripts/aligned_sources.py harvests image-caption pairs from Debian packages;
2. features: each image once through each of the config's EfficientNet-Lite towers (Lite0 and Lite1 side by
   side by default; pooled 1280-d, 1000 logits and the other feature levels), each distinct text once through
   MiniLM; kept as .npz per source and tower, never recomputed;
3. training: the heads (mmrec_core/encoders/aligned.py) with a symmetric InfoNCE loss; the
   projections start at identity (text) and at the label bridge (image), so training starts
   from the bridge and weight decay pulls towards it; with tail_epochs, a second phase retrains
   the tower's last 1x1 conv with the heads, from the cached maps of its input;
4. the heads -> mmrec_core/encoders/data/aligned-heads.npz (float16 weights + JSON metadata, no pickles).
Only the training sources are used (OpenClipart, emoji and GCompris are reserved for evaluation).
Usage: python scripts/train_aligned.py [--out mmrec_core/encoders/data/aligned-heads.npz] [--exclude SOURCE ...]
       [--tower lite0+lite1|lite0|lite1|lite2|...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from aligned_sources import CACHE, SOURCES, TRAIN_SOURCES, excluded, pairs  # noqa: E402

from mmrec_core.encoders._towers import lites  # noqa: E402
from mmrec_core.errors import EncoderUnavailable  # noqa: E402
from mmrec_core.encoders.aligned import (CHECKPOINT, IMAGE_FEATURES, POOLED_DIM, Heads, bridge_embedding,  # noqa: E402
                                        feature_dims, tail_input)

FEATURES = CACHE / "features"


@dataclass(frozen=True)
class TrainConfig:
    dim: int = 384
    mlp_hidden: int = 0  # 0: linear image head
    use_bridge: bool = True  # bridge embedding as an input of the image head (and its starting point)
    multi_text: bool = True  # sample one of each image's texts per epoch (else the caption only)
    epochs: int = 20
    batch: int = 256
    lr: float = 5e-4
    weight_decay: float = 1.0  # on the deltas from the starting point (AdamW, decoupled)
    temperature: float = 0.05  # initial; learned
    dropout: float = 0.5  # on the standardised image features, while training
    train_text: bool = True  # False: the text head stays the identity (MiniLM's own space)
    mix: float = 1.0  # weight of the aligned score; the rest is the label bridge's (see mmrec_core.aligned)
    batch_by: str = "source"  # "source": every batch from one source (negatives of the same kind); "": mixed
    template: str = "a picture of a {}"  # prompt template for short texts, at training and query time ("" = none)
    max_words: int = 3  # texts of up to this many words get the template (0 = every text)
    repeat: tuple[tuple[str, int], ...] = (("tuxpaint", 8),)  # sources seen this many times an epoch (the demo)
    image_features: tuple[str, ...] = ("pooled", "pooled_max", "mid")  # the IMAGE_FEATURES the image head reads
    tower: str = "lite0+lite1"  # the EfficientNet-Lite variant (_towers.LITE), or several side by side (the label
    # bridge's first); ABLATION.md "Bigger image towers"
    tail_epochs: int = 0  # then retrain the tower's head conv with the heads for this many epochs (0: frozen towers)
    tail_lr: float = 1e-3  # its learning rate (the heads go on at lr * tail_head_lr)
    tail_head_lr: float = 0.2
    tail_decay: float = 0.1  # weight decay on the head conv's change from the pretrained one
    seed: int = 0

    @property
    def prompt(self) -> dict:
        return {"template": self.template, "max_words": self.max_words} if self.template else {}


@dataclass
class Data:
    """Features of one or more sources, row i = one image."""

    source: np.ndarray  # (n,) str
    ids: np.ndarray  # (n,) str
    category: np.ndarray  # (n,) str
    pooled: np.ndarray  # (n, 1280) float32
    bridge: np.ndarray  # (n, 384) float32
    text_emb: np.ndarray  # (m, 384) float32, distinct texts
    texts: list[list[int]]  # per image: rows of text_emb, [0] = the caption
    strings: list[str]  # (m,) the distinct texts
    extra: dict[str, np.ndarray]  # the other IMAGE_FEATURES, (n, dim) each

    def subset(self, mask: np.ndarray) -> "Data":
        idx = np.flatnonzero(mask)
        return Data(self.source[idx], self.ids[idx], self.category[idx], self.pooled[idx], self.bridge[idx],
                    self.text_emb, [self.texts[i] for i in idx], self.strings, {k: v[idx] for k, v in self.extra.items()})

    def image_input(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """What an image head reading these IMAGE_FEATURES sees: them concatenated, (n, F) float32."""
        return np.hstack([self.pooled if n == "pooled" else self.extra[n] for n in names])

    def __len__(self) -> int:
        return len(self.ids)


_TOWERS: dict[str, object] = {}


def towers(tower: str = "lite0"):
    """MiniLM and the EfficientNet bridge on the Lite variant `tower`, each loaded once."""
    from mmrec_core.encoders.bridge import ImageNetBridge, MiniLMText
    from mmrec_core.encoders import torch_threads

    if "text" not in _TOWERS:
        torch_threads()
        _TOWERS["text"] = MiniLMText()
    if f"bridge-{tower}" not in _TOWERS:
        _TOWERS[f"bridge-{tower}"] = ImageNetBridge(_TOWERS["text"], tower=tower)
    return _TOWERS["text"], _TOWERS[f"bridge-{tower}"]


def feature_path(name: str, got: list, tower: str = "lite0") -> Path:
    """Where a source's features through a tower are kept (keyed by its pairs `got`: a new harvest extracts anew)."""
    key = hashlib.sha256(json.dumps([(p.id, p.image, p.texts) for p in got]).encode()).hexdigest()[:12]
    return FEATURES / (f"{name}-{key}.npz" if tower == "lite0" else f"{name}-{tower}-{key}.npz")


def _complete(path: Path) -> bool:
    return path.is_file() and levels_path(path).is_file() and maps_path(path).is_file()


def features(name: str, tower: str = "lite0") -> dict[str, np.ndarray]:
    """Cached per-source features: pooled, logits, text embeddings, the EXTRA image features (extracted once)."""
    from mmrec_core.encoders.aligned import lite_features
    from mmrec_core.catalog import load_image

    got = pairs(name)
    path = feature_path(name, got, tower)
    if _complete(path):
        out = {"map": np.load(maps_path(path), mmap_mode="r")}
        for p in (path, levels_path(path)):
            with np.load(p, allow_pickle=False) as z:
                out |= {k: z[k] for k in z.files}
        return out
    text, bridge = towers(tower)
    dims = feature_dims(tower)
    pooled = np.zeros((len(got), 1280), np.float32)
    logits = np.zeros((len(got), 1000), np.float32)
    levels = {n: np.zeros((len(got), dims[n]), np.float32) for n in EXTRA}
    FEATURES.mkdir(parents=True, exist_ok=True)
    maps_tmp = maps_path(path).with_suffix(".tmp.npy")
    maps = np.lib.format.open_memmap(maps_tmp, "w+", np.float16, (len(got), *tail_input(tower)))
    start, step = time.perf_counter(), 64
    for i in range(0, len(got), step):
        images = [load_image(p.image) for p in got[i : i + step]]
        feats, logits[i : i + len(images)], maps[i : i + len(images)] = lite_features(
            [bridge], images, ("pooled", *EXTRA), keep_map=True)
        pooled[i : i + len(images)] = feats[:, :POOLED_DIM]
        cut = POOLED_DIM
        for n in EXTRA:
            levels[n][i : i + len(images)] = feats[:, cut : cut + dims[n]]
            cut += dims[n]
        done = i + len(images)
        print(f"\r  {name} ({tower}): images {done}/{len(got)} ({done / (time.perf_counter() - start):.1f}/s)",
              end="", file=sys.stderr, flush=True)
    strings = sorted({t for p in got for t in p.texts})
    text_emb = text.encode(strings)
    print(f"\r  {name}: {len(got)} images, {len(strings)} texts in {time.perf_counter() - start:.0f}s",
          file=sys.stderr)
    out = {"ids": np.array([p.id for p in got]), "category": np.array([p.category for p in got]),
           "pooled": pooled, "logits": logits, "strings": np.array(strings), "text_emb": text_emb,
           "texts": np.array(["\x1f".join(p.texts) for p in got])}
    maps.flush()
    del maps
    maps_tmp.rename(maps_path(path))
    tmp = levels_path(path).with_suffix(".tmp.npz")
    np.savez(tmp, **levels)
    tmp.rename(levels_path(path))
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.rename(path)
    return out | levels | {"map": np.load(maps_path(path), mmap_mode="r")}


# Every IMAGE_FEATURES of each image is kept, from the one forward pass: pooled (with the logits) in the main
# file, the others in NAME-KEY.levels.npz beside it (heads that read them are measured in aligned_eval.py).
EXTRA = tuple(n for n in IMAGE_FEATURES if n != "pooled")


def levels_path(path: Path) -> Path:
    return path.with_name(path.name.replace(".npz", ".levels.npz"))


def maps_path(path: Path) -> Path:
    """The tail's input maps (n, *tail_input(tower)) float16, for heads that retrain the tail (memory-mapped)."""
    return path.with_name(path.name.replace(".npz", ".maps.npy"))


def load_data(names: list[str], *, tower: str = "lite0", log: bool = False, maps: bool = True) -> Data:
    """Features of several sources through one tower, or several side by side ("lite0+lite1", see side_by_side),
    in one Data (distinct texts shared across sources).

    Pairs of a training source that copy a reserved image (aligned_sources.excluded) are left out. The tail's
    maps ("map", read into memory) come with one tower only, unless maps=False."""
    if len(variants := lites(tower)) > 1:
        return side_by_side([load_data(names, tower=v.name, log=log and not i, maps=False)
                             for i, v in enumerate(variants)])
    if not all(_complete(feature_path(n, pairs(n), tower)) for n in names):
        towers(tower)
    prompts = _prompts()
    parts = [_without_reserved(n, features(n, tower), log=log) for n in names]
    strings = sorted({str(s) for f in parts for s in f["strings"]})
    row = {s: i for i, s in enumerate(strings)}
    emb = np.zeros((len(strings), 384), np.float32)
    for f in parts:
        emb[[row[str(s)] for s in f["strings"]]] = f["text_emb"]
    return Data(
        source=np.concatenate([np.full(len(f["ids"]), n) for n, f in zip(names, parts)]),
        ids=np.concatenate([f["ids"] for f in parts]),
        category=np.concatenate([f["category"] for f in parts]),
        pooled=np.concatenate([f["pooled"] for f in parts]),
        bridge=np.concatenate([bridge_embedding(f["logits"], prompts) for f in parts]),
        text_emb=emb,
        texts=[[row[t] for t in str(ts).split("\x1f")] for f in parts for ts in f["texts"]],
        strings=strings,
        extra={n: np.concatenate([f[n] for f in parts]) for n in (*EXTRA, *["map"][:maps])},  # "map": the tail's input
    )


def side_by_side(parts: list[Data]) -> Data:
    """One Data whose image features are each part's, feature by feature (pooled of each tower, then pooled_max of
    each, ...: the order of aligned.lite_features), of the same pairs; the label bridge is the first part's."""
    first = parts[0]
    if not all(np.array_equal(first.ids, d.ids) and np.array_equal(first.source, d.source) for d in parts):
        raise SystemExit("the towers' features are not of the same pairs (harvest again, then extract)")
    extra = {k: np.hstack([d.extra[k] for d in parts]) for k in EXTRA}
    return Data(first.source, first.ids, first.category, np.hstack([d.pooled for d in parts]), first.bridge,
                first.text_emb, first.texts, first.strings, extra)


def _without_reserved(name: str, f: dict[str, np.ndarray], *, log: bool) -> dict[str, np.ndarray]:
    if SOURCES[name].role != "train":
        return f
    drop = excluded(name)
    if not drop:
        return f
    if log:
        print(f"  {name}: {len(drop)} pairs left out as copies of reserved images", file=sys.stderr)
    keep = np.array([str(i) not in drop for i in f["ids"]])
    return {k: (v[keep] if k in ("ids", "category", "pooled", "logits", "texts", "map", *EXTRA) else v) for k, v in f.items()}


def prompted(data: Data, config: TrainConfig) -> Data:
    """The same data with its texts phrased by the config's prompt template (embeddings cached)."""
    if not config.template:
        return data
    heads = Heads({}, "", {"prompt": config.prompt})
    strings = sorted({heads.prompt(s) for s in data.strings})
    row = {s: i for i, s in enumerate(strings)}
    emb = text_embeddings(strings)
    texts = [[row[heads.prompt(data.strings[t])] for t in ts] for ts in data.texts]
    return Data(data.source, data.ids, data.category, data.pooled, data.bridge, emb, texts, strings, data.extra)


def text_embeddings(strings: list[str]) -> np.ndarray:
    """MiniLM embeddings of any texts, cached across runs in FEATURES/texts.npz."""
    path = FEATURES / "texts.npz"
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            known = dict(zip(map(str, z["strings"]), z["emb"]))
    missing = [s for s in strings if s not in known]
    if missing:
        known.update(zip(missing, towers()[0].encode(missing)))
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, strings=np.array(list(known)), emb=np.stack(list(known.values())).astype(np.float32))
        tmp.rename(path)
    return np.stack([known[s] for s in strings]).astype(np.float32)


def _prompts() -> np.ndarray:
    """The bridge's class-prompt matrix (1000, 384), from its on-disk cache or computed once."""
    from mmrec_core.encoders.bridge import class_prompt_matrix, imagenet_classes

    if "prompts" not in _TOWERS:
        _TOWERS["prompts"] = class_prompt_matrix(_NameOnly(), imagenet_classes())  # disk cache: no model load
    return _TOWERS["prompts"]


class _NameOnly:
    """Stands in for MiniLM when the prompt matrix is already cached on disk; loads it if not."""

    name, dim = "minilm-l6-v2", 384

    def encode(self, batch: list[str]) -> np.ndarray:
        return towers()[0].encode(batch)


def train(data: Data, config: TrainConfig = TrainConfig(), *, log: bool = True) -> dict[str, np.ndarray]:
    """Fit the heads on `data`; returns the checkpoint arrays (float32)."""
    import torch

    if config.tail_epochs and len(lites(config.tower)) > 1:
        raise SystemExit(f"retraining the head conv is for one image tower, not {config.tower}")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x = data.image_input(config.image_features)
    mean, std, f = x.mean(0), x.std(0) + 1e-3, x.shape[1]
    h_all = torch.from_numpy((x - mean) / std)
    del x
    b_all = torch.from_numpy(data.bridge)
    t_all = torch.from_numpy(data.text_emb / np.linalg.norm(data.text_emb, axis=1, keepdims=True))
    d, eye = config.dim, torch.eye(384, config.dim)
    p = {
        "d_text": torch.zeros(384, d), "text_b": torch.zeros(d),
        "d_bridge": torch.zeros(384, d), "img_b": torch.zeros(d),
        "img_w": torch.zeros(f, d) if config.use_bridge else torch.randn(f, d) * f ** -0.5,
        "log_t": torch.tensor(float(np.log(config.temperature))),
    }
    if config.mlp_hidden:
        p["mlp_w1"] = torch.randn(f, config.mlp_hidden) * f ** -0.5
        p["mlp_b1"] = torch.zeros(config.mlp_hidden)
        p["mlp_w2"] = torch.zeros(config.mlp_hidden, d)
    for k, v in p.items():
        v.requires_grad_(config.train_text or k not in ("d_text", "text_b"))
    bridge_scale = 1.0 if config.use_bridge else 0.0
    decayed = [v for v in p.values() if v.requires_grad and v.ndim == 2]
    rest = [v for v in p.values() if v.requires_grad and v.ndim != 2]
    opt = torch.optim.AdamW([{"params": decayed, "weight_decay": config.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=config.lr)
    seen = len(data) + sum((k - 1) * int((data.source == n).sum()) for n, k in config.repeat)
    steps = max(20, config.epochs * (max(1, -(-seen // config.batch)) + len(np.unique(data.source))))  # + leftovers; >= 20
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.1)
    gelu = torch.nn.GELU(approximate="tanh")

    def loss_of(idx: np.ndarray, pick: np.ndarray, h: "torch.Tensor") -> "torch.Tensor":
        """Symmetric InfoNCE of a batch: rows idx, their picked texts, their standardised image features h."""
        tid = torch.from_numpy(pick[idx])
        t = t_all[tid] @ (eye + p["d_text"]) + p["text_b"]
        h = torch.nn.functional.dropout(h, config.dropout) if config.dropout else h
        z = h @ p["img_w"] + b_all[idx] @ (bridge_scale * (eye + p["d_bridge"])) + p["img_b"]
        if config.mlp_hidden:
            z = z + gelu(h @ p["mlp_w1"] + p["mlp_b1"]) @ p["mlp_w2"]
        return info_nce(torch.nn.functional.normalize(t, dim=1), torch.nn.functional.normalize(z, dim=1), tid,
                        p["log_t"])

    def run(epochs: int, opt, sched, features, label: str) -> None:
        start = time.perf_counter()
        for epoch in range(epochs):
            batches = _batches(data, config, rng)
            pick = np.array([ts[rng.integers(len(ts))] if config.multi_text else ts[0] for ts in data.texts])
            total = 0.0
            for idx in batches:
                loss = loss_of(idx, pick, features(idx))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            if log and (epoch % 10 == 9 or epoch == epochs - 1 or label == "tail"):
                print(f"  {label} epoch {epoch + 1}/{epochs}  loss {total / len(data):.4f}  "
                      f"T {float(p['log_t'].detach().exp()):.4f}  {time.perf_counter() - start:.0f}s", file=sys.stderr)

    run(config.epochs, opt, sched, lambda idx: h_all[idx], "heads")
    tail = _tune_tail(data, config, p, run, mean, std) if config.tail_epochs else {}
    with torch.no_grad():
        out = {"text_w": (eye + p["d_text"]).numpy(), "text_b": p["text_b"].numpy(),
               "bridge_w": (bridge_scale * (eye + p["d_bridge"])).numpy(), "img_b": p["img_b"].numpy(),
               "img_w": p["img_w"].numpy(), "img_mean": mean.astype(np.float32), "img_std": std.astype(np.float32)}
        if config.mlp_hidden:
            out.update({k: p[k].numpy() for k in ("mlp_w1", "mlp_b1", "mlp_w2")})
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in (out | tail).items()}
    return arrays | {"mix": np.array(config.mix, dtype=np.float32)}  # 0-d (ascontiguousarray makes it 1-d)


def info_nce(t: "torch.Tensor", z: "torch.Tensor", tid: "torch.Tensor", log_t: "torch.Tensor") -> "torch.Tensor":
    """Symmetric InfoNCE of unit text rows t and image rows z at temperature exp(log_t); rows whose text is the same
    (tid, the texts' ids) are not each other's negatives."""
    import torch

    logits = t @ z.T / log_t.exp().clamp(min=0.01)
    same = (tid[:, None] == tid[None, :]).float()
    target = same / same.sum(1, keepdim=True)
    return 0.5 * (torch.sum(-target * logits.log_softmax(1), 1).mean()
                  + torch.sum(-target * logits.log_softmax(0).T, 1).mean())


def _tune_tail(data: Data, config: TrainConfig, p: dict, run, mean: np.ndarray, std: np.ndarray) -> dict:
    """Second phase: Lite0's head conv (batch norm folded in) retrained with the heads, from the cached maps.

    The image head's standardisation stays the frozen features' (mean, std); "pooled" and "pooled_max" are
    recomputed from the retrained conv each step, "mid" (earlier blocks) stays cached. Returns tail_w, tail_b."""
    import torch

    w0, b0 = (torch.from_numpy(v) for v in pretrained_tail_arrays(config.tower))
    dw, db = torch.zeros_like(w0, requires_grad=True), torch.zeros_like(b0, requires_grad=True)
    maps = data.extra["map"]
    m, s = torch.from_numpy(mean), torch.from_numpy(std)
    fixed = {n: torch.from_numpy(data.extra[n]) for n in config.image_features if n not in ("pooled", "pooled_max")}

    def features(idx: np.ndarray) -> torch.Tensor:
        got = pooled_through_tail(maps[idx], (w0 + dw, b0 + db))
        f = torch.cat([got[n] if n in got else fixed[n][idx] for n in config.image_features], 1)
        return (f - m) / s

    heads = [v for v in p.values() if v.requires_grad]
    opt = torch.optim.AdamW([{"params": [dw], "weight_decay": config.tail_decay, "lr": config.tail_lr},
                             {"params": [db], "weight_decay": 0.0, "lr": config.tail_lr},
                             {"params": heads, "weight_decay": 0.0, "lr": config.lr * config.tail_head_lr}])
    steps = max(20, config.tail_epochs * (len(_batches(data, config, np.random.default_rng(0))) + 1))  # OneCycle: >= 20
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[config.tail_lr, config.tail_lr, config.lr * config.tail_head_lr], total_steps=steps, pct_start=0.1)
    run(config.tail_epochs, opt, sched, features, "tail")
    with torch.no_grad():
        return {"tail_w": (w0 + dw).numpy(), "tail_b": (b0 + db).numpy()}


_PRETRAINED_TAIL: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def pretrained_tail_arrays(tower: str = "lite0") -> tuple[np.ndarray, np.ndarray]:
    """A tower's pretrained head conv, batch norm folded (loaded once; call before forking training workers)."""
    from mmrec_core.encoders.aligned import pretrained_tail

    if tower not in _PRETRAINED_TAIL:
        _PRETRAINED_TAIL[tower] = pretrained_tail(towers(tower)[1].model)
    return _PRETRAINED_TAIL[tower]


def pooled_through_tail(maps: np.ndarray, tail) -> dict[str, "torch.Tensor"]:
    """"pooled" (mean) and "pooled_max" of cached head-conv input maps run through a head conv (weights, bias)."""
    import torch

    from mmrec_core.encoders.aligned import tail_map

    x = torch.from_numpy(np.asarray(maps, dtype=np.float32))
    a = tail_map(x.contiguous(memory_format=torch.channels_last), tail)
    return {"pooled": a.mean((2, 3)), "pooled_max": a.amax((2, 3))}


def with_tail(data: Data, tail: tuple[np.ndarray, np.ndarray], names: tuple[str, ...]) -> Data:
    """The same data with "pooled" / "pooled_max" computed through a retrained head conv (from the cached maps)."""
    import torch

    got = {n: np.zeros_like(data.pooled) for n in ("pooled", "pooled_max") if n == "pooled" or n in names}
    with torch.inference_mode():
        for s in range(0, len(data), 512):
            for n, v in pooled_through_tail(data.extra["map"][s : s + 512], tail).items():
                if n in got:
                    got[n][s : s + 512] = v.numpy()
    extra = dict(data.extra) | {n: v for n, v in got.items() if n != "pooled"}
    return Data(data.source, data.ids, data.category, got["pooled"], data.bridge, data.text_emb, data.texts,
                data.strings, extra)


def _batches(data: Data, config: TrainConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """Index batches for one epoch: mixed, or each from one group (source) with leftovers mixed.

    A source named in config.repeat appears that many times in the epoch (a pair drawn twice into one
    batch has the same text, so it counts as its own positive, never as a negative)."""
    times = dict(config.repeat)
    rows = np.concatenate([np.arange(len(data))] + [np.flatnonzero(data.source == n)
                                                    for n, k in times.items() for _ in range(k - 1)])
    groups = [rows] if not config.batch_by else [rows[data.source[rows] == g] for g in np.unique(data.source)]
    out, left = [], []
    for g in groups:
        g = rng.permutation(g)
        full = len(g) // config.batch * config.batch
        out += [g[s : s + config.batch] for s in range(0, full, config.batch)]
        left += list(g[full:])
    left = rng.permutation(np.array(left, dtype=int))
    out += [left[s : s + config.batch] for s in range(0, len(left), config.batch)]
    return [out[i] for i in rng.permutation(len(out)) if len(out[i]) >= 2]


def as_heads(arrays: dict[str, np.ndarray]) -> Heads:
    return Heads(arrays, "unsaved", {})


def save(arrays: dict[str, np.ndarray], path: Path, meta: dict) -> None:
    """float16 weights (mean/std/biases stay float32) + JSON metadata; plain .npz, no pickles."""
    small = {k: v.astype(np.float16) if v.ndim == 2 else v for k, v in arrays.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **small)
    tmp.replace(path)


def checkpoint_meta(data: Data, config: TrainConfig, seconds: float) -> dict:
    """What a checkpoint records of its training: config, sources and their packages, time, towers, prompt."""
    names = list(dict.fromkeys(map(str, data.source)))
    images = [f"efficientnet-{v.name}" for v in lites(config.tower)]
    if config.tail_epochs:  # one tower only (train refuses more)
        images[-1] += " (head conv retrained)"
    return {"config": asdict(config), "sources": {n: int((data.source == n).sum()) for n in names},
            "packages": {n: SOURCES[n].packages for n in names}, "train_seconds": round(seconds, 1),
            "towers": ["minilm-l6-v2", *images],
            "prompt": config.prompt, "image_features": list(config.image_features), "tower": config.tower}


def tower_spec(spec: str) -> str:
    """argparse type: an image tower spec (_towers.lites), as it is."""
    try:
        lites(spec)
    except EncoderUnavailable as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CHECKPOINT)
    parser.add_argument("--exclude", nargs="*", default=[], help="training sources to leave out")
    parser.add_argument("--tower", type=tower_spec, default=TrainConfig.tower,
                        help="the EfficientNet-Lite variant, or several side by side (lite0+lite1)")
    args = parser.parse_args()
    names = [n for n in TRAIN_SOURCES if n not in args.exclude]
    started = time.perf_counter()
    config = TrainConfig(tower=args.tower)
    data = prompted(load_data(names, tower=config.tower, log=True), config)
    prep = time.perf_counter() - started
    print(f"{len(data)} images, {len(data.strings)} texts from {len(names)} sources ({prep:.0f}s to load/extract)",
          file=sys.stderr)
    t0 = time.perf_counter()
    arrays = train(data, config)
    seconds = time.perf_counter() - t0
    save(arrays, args.out, checkpoint_meta(data, config, seconds))
    print(f"trained in {seconds:.0f}s -> {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
