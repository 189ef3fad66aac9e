"""The `aligned` encoder: frozen MiniLM and EfficientNet-Lite features, projected into one space by small heads.

The towers are the pretrained ones `bridge` already ships (no CLIP weights needed); only two
small heads are trained, contrastively, on image-caption pairs harvested from Debian packages
(scripts/train_aligned.py; data and licences in assets/aligned/MANIFEST.md):

- text:  t = l2(l2(minilm(text)) @ text_w + text_b)
- image: h = (f - img_mean) / img_std   (f: EfficientNet-Lite features named by the checkpoint's meta
           "image_features": by default the 1280-d average pool, see IMAGE_FEATURES; the Lite variant
           is the meta's "tower", Lite0 by default, see _towers.LITE; towers side by side, "lite0+lite1":
           each feature of each tower, feature by feature, e.g. [pooled0, pooled1, mid0, mid1])
         b = the bridge embedding (ImageNet top-5 probabilities @ MiniLM class-prompt matrix; the first tower's)
         v = l2(h @ img_w + b @ bridge_w + img_b [+ gelu(h @ mlp_w1 + mlp_b1) @ mlp_w2])
- a checkpoint may carry a retrained tail (tail_w, tail_b: the tower's last 1x1 conv, batch norm
  folded in); "pooled" and "pooled_max" then come from it, the bridge's logits still from the pretrained one;
- short texts (a bare "cat") are phrased by the checkpoint's prompt template first (meta "prompt");
- with `mix` = w < 1 the label bridge's score is mixed in exactly: text -> [sqrt(w) t, sqrt(1-w) l2(minilm)],
  image -> [sqrt(w) v, sqrt(1-w) b], so a dot product is w * aligned + (1-w) * bridge (still unit rows).

The heads are plain numpy, loaded from an .npz with allow_pickle=False.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mmrec_core.encoders import _multilingual, _towers
from mmrec_core.encoders._base import EncoderSet, LazyEncoder
from mmrec_core.encoders.bridge import ImageNetBridge, MiniLMText, lite_pixels
from mmrec_core.errors import EncoderError, EncoderUnavailable
from mmrec_core.vectors import l2_normalize

CHECKPOINT = Path(__file__).resolve().parent / "data" / "aligned-heads.npz"  # ships inside the package
# earlier checkpoints ship beside it as aligned-heads-DIGEST.npz, so stores encoded with them keep answering queries


def checkpoint(digest: str = "") -> Path:
    """The current checkpoint, or the retired one whose digest a store's encoder name records."""
    return CHECKPOINT if not digest else CHECKPOINT.with_name(f"aligned-heads-{digest}.npz")
POOLED_DIM = 1280
# EfficientNet-Lite features an image head can read, all from one forward pass (see lite_features):
IMAGE_FEATURES = (
    "pooled",  # the final 1280-channel map, average-pooled (what ImageNet's classifier reads)
    "pooled_max",  # the same map, max-pooled (a part anywhere in the picture)
    "mid",  # the last blocks of the 112- and 192-channel stages (Lite0: blocks 10, 14 x 14, and 14, 7 x 7),
    # average-pooled: shapes before classes
)


def feature_dims(tower: str = "lite0") -> dict[str, int]:
    """Each of IMAGE_FEATURES' width for a Lite variant, or summed over towers side by side ("lite0+lite1")."""
    variants = _towers.lites(tower)
    return {"pooled": POOLED_DIM * len(variants), "pooled_max": POOLED_DIM * len(variants),
            "mid": sum(sum(v.mid_channels) for v in variants)}


def tail_input(tower: str = "lite0") -> tuple[int, int, int]:
    """What the retrainable tail (the 1x1 head conv) of one Lite variant reads: its last block's maps, (C, side, side)."""
    v = _towers.lite(tower)
    return v.last_channels, v.map_side, v.map_side

BRIDGE_TOP = 5
# A text in another language that a dictionary reads (_lexicon): this share of its vector from MiniLM on the
# dictionary's words, the rest from e5 (mapped). Chosen on sets never trained on: CLDR names of Firefox OS Emoji
# (bench/multilingual_emoji.py) gain from a larger share (Chinese 0.583 / 0.661 / 0.691 / 0.688 at 0.3 / 0.5 /
# 0.7 / 0.85), the held-out Tux Paint descriptions (bench/multilingual_eval.py) lose a little (0.777 at 0.5,
# 0.757 at 0.7); 0.6 between.
GLOSS_WEIGHT = 0.6
_REQUIRED = ("text_w", "text_b", "img_mean", "img_std", "img_w", "bridge_w", "img_b")
_MLP = ("mlp_w1", "mlp_b1", "mlp_w2")
_TAIL = ("tail_w", "tail_b")


@dataclass(frozen=True, eq=False)
class Heads:
    """The trained projections (float32 arrays) and the checkpoint's digest and metadata."""

    arrays: dict[str, np.ndarray]
    digest: str
    meta: dict[str, Any]

    @property
    def template(self) -> str:
        """How short texts are phrased before MiniLM sees them ('' = as they are), e.g. 'a picture of {}'."""
        return str(self.meta.get("prompt", {}).get("template", ""))

    def prompt(self, text: str) -> str:
        """A text as the heads were trained to read it: texts of up to `max_words` words go through the template."""
        p = self.meta.get("prompt", {})
        if not self.template or len(text.split()) > int(p.get("max_words", 0) or 1 << 30):
            return text
        return self.template.format(text.strip())

    @property
    def image_features(self) -> tuple[str, ...]:
        """The EfficientNet-Lite features the image head reads, concatenated in this order."""
        return tuple(self.meta.get("image_features", ("pooled",)))

    @property
    def tower(self) -> str:
        """The EfficientNet-Lite variant the image head reads (a key of _towers.LITE), or several side by side
        ("lite0+lite1")."""
        return str(self.meta.get("tower", "lite0"))

    @property
    def towers(self) -> tuple[str, ...]:
        """The Lite variants of `tower`, the label bridge's first."""
        return tuple(v.name for v in _towers.lites(self.tower))

    @property
    def tail(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The retrained head conv of the tower (weight (1280, C), bias (1280,)), or None: the pretrained."""
        return (self.arrays["tail_w"], self.arrays["tail_b"]) if "tail_w" in self.arrays else None

    @property
    def mix(self) -> float:
        return float(self.arrays.get("mix", 1.0))

    @property
    def dim(self) -> int:
        return int(self.arrays["text_w"].shape[1]) + (MiniLMText.dim if self.mix < 1 else 0)

    def _mixed(self, aligned: np.ndarray, bridge_space: np.ndarray) -> np.ndarray:
        if self.mix >= 1:
            return aligned
        w = np.float32(self.mix)
        return np.hstack([np.sqrt(w) * aligned, np.sqrt(1 - w) * bridge_space]).astype(np.float32)

    def text(self, minilm: np.ndarray) -> np.ndarray:
        """MiniLM embeddings (n, 384) -> aligned float32 (n, dim), rows L2-normalised."""
        a = self.arrays
        t = l2_normalize(minilm.astype(np.float32))
        return self._mixed(l2_normalize(t @ a["text_w"] + a["text_b"]), t)

    def image(self, features: np.ndarray, bridge: np.ndarray) -> np.ndarray:
        """features (n, F: self.image_features concatenated) and bridge embeddings (n, 384) -> aligned float32
        (n, dim), rows L2-normalised."""
        a = self.arrays
        h = (features.astype(np.float32) - a["img_mean"]) / a["img_std"]
        z = h @ a["img_w"] + bridge.astype(np.float32) @ a["bridge_w"] + a["img_b"]
        if "mlp_w1" in a:
            z = z + gelu(h @ a["mlp_w1"] + a["mlp_b1"]) @ a["mlp_w2"]
        return self._mixed(l2_normalize(z), l2_normalize(bridge.astype(np.float32)))


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (torch's approximate='tanh'), so numpy and training agree."""
    return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608) * (x + np.float32(0.044715) * x ** 3)))


def load_heads(path: str | Path = CHECKPOINT) -> Heads:
    """Read and check a heads checkpoint (.npz, no pickles); EncoderUnavailable if missing, EncoderError if malformed."""
    path = Path(path)
    if not path.is_file():
        raise EncoderUnavailable(f"no aligned checkpoint at {path}; build it with scripts/train_aligned.py")
    raw = path.read_bytes()
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise EncoderError(f"cannot read the aligned checkpoint {path}: {exc}") from None
    meta = json.loads(str(arrays.pop("meta"))) if "meta" in arrays else {}
    missing = [k for k in _REQUIRED if k not in arrays]
    for group in (_MLP, _TAIL):
        if not missing and any(k in arrays for k in group) and not all(k in arrays for k in group):
            missing = [k for k in group if k not in arrays]
    if missing:
        raise EncoderError(f"aligned checkpoint {path} lacks {missing}")
    template = meta.get("prompt", {}).get("template", "")
    if template and (not isinstance(template, str) or template.count("{}") != 1 or "{" in template.replace("{}", "")):
        raise EncoderError(f"aligned checkpoint {path} has a bad prompt template {template!r}: it needs one {{}}")
    names = meta.get("image_features", ["pooled"])
    if not (isinstance(names, list) and names and all(n in IMAGE_FEATURES for n in names) and len(set(names)) == len(names)):
        raise EncoderError(f"aligned checkpoint {path} names unknown image features {names!r}; "
                           f"known: {', '.join(IMAGE_FEATURES)}")
    tower = meta.get("tower", "lite0")
    try:
        variants = _towers.lites(tower if isinstance(tower, str) else repr(tower))
    except EncoderUnavailable as exc:
        raise EncoderError(f"aligned checkpoint {path}: {exc}") from None
    if "tail_w" in arrays and len(variants) > 1:
        raise EncoderError(f"aligned checkpoint {path} retrains the head conv of several towers ({tower}): one only")
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    dims = feature_dims(tower)
    d, f = arrays["text_w"].shape[1], sum(dims[n] for n in names)
    shapes = {"text_w": (MiniLMText.dim, d), "img_w": (f, d), "bridge_w": (MiniLMText.dim, d),
              "img_mean": (f,), "img_std": (f,), "text_b": (d,), "img_b": (d,)}
    if "tail_w" in arrays:
        shapes |= {"tail_w": (POOLED_DIM, tail_input(tower)[0]), "tail_b": (POOLED_DIM,)}
    bad = {k: arrays[k].shape for k, s in shapes.items() if arrays[k].shape != s}
    if "mix" in arrays and not (arrays["mix"].shape == () and 0 <= float(arrays["mix"]) <= 1):
        bad["mix"] = arrays["mix"].shape
    if bad:
        raise EncoderError(f"aligned checkpoint {path} has wrong shapes {bad}; expected {shapes}")
    return Heads(arrays, hashlib.sha256(raw).hexdigest()[:10], meta)


def lite_features(bridges: Sequence[ImageNetBridge], images: Sequence[Any], names: Sequence[str] = ("pooled",), *,
                  keep_map: bool = False, tail: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
    """The bridges' EfficientNet-Lite features float32 (n, F: the IMAGE_FEATURES `names`, each of every bridge's
    tower in turn, see feature_dims) and the first bridge's ImageNet logits float32 (n, 1000), one forward pass per
    tower and batch; with keep_map (one tower only) also the tail's input maps (n, *tail_input) float16.

    An image is a PIL image or what tower_pixels prepared (a tuple of arrays, one per tower, for several).
    With a `tail` (one tower only: the checkpoint's retrained head conv, batch norm folded in: weight (1280, C),
    bias (1280,)) "pooled" and "pooled_max" come from it; the logits (the label bridge) always from the pretrained
    head."""
    if (keep_map or tail is not None) and len(bridges) != 1:
        raise EncoderError("a retrained head conv (and its input maps) is for one image tower")
    first = bridges[0]
    dims = feature_dims("+".join(b.tower.name for b in bridges))
    feats = np.zeros((len(images), sum(dims[n] for n in names)), dtype=np.float32)
    logits = np.zeros((len(images), len(first.classes)), dtype=np.float32)
    maps = np.zeros((len(images), *tail_input(first.tower.name)), dtype=np.float16) if keep_map else None
    for start in range(0, len(images), first.batch_size):
        chunk = images[start : start + first.batch_size]
        outs = [dict(b.run([x[i] if isinstance(x, tuple) else x for x in chunk])) for i, b in enumerate(bridges)]
        if tail is not None:
            outs[0]["pooled"], outs[0]["pooled_max"] = tail_pools(outs[0]["map"], tail)
        end = start + len(chunk)
        feats[start:end] = np.hstack([out[n] for n in names for out in outs])
        logits[start:end] = outs[0]["logits"]
        if maps is not None:
            maps[start:end] = outs[0]["map"]
    return (feats, logits) if maps is None else (feats, logits, maps)


def tower_pixels(image: Any, sizes: tuple[int, ...] = (224,)) -> np.ndarray | tuple[np.ndarray, ...]:
    """An image as the towers read it (the image encoder's `prepare`): lite_pixels at the one tower's size, or a
    tuple of them, one per tower side by side."""
    got = tuple(lite_pixels(image, s) for s in sizes)
    return got[0] if len(got) == 1 else got


def tail_pools(maps: np.ndarray, tail: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The retrained head conv (ReLU6, as the tower's own) on the last block's maps (n, C, side, side): its average
    and max pools, float32 (n, 1280) each; numpy, the same as tail_map's on torch."""
    w, b = (np.asarray(v, dtype=np.float32) for v in tail)
    h = np.asarray(maps, dtype=np.float32).reshape(len(maps), maps.shape[1], -1)
    a = np.clip(np.matmul(w, h) + b[None, :, None], 0.0, 6.0)
    return a.mean(axis=2), a.max(axis=2)


def tail_map(maps: Any, tail: tuple[Any, Any]) -> Any:
    """The retrained head conv on the last block's output maps (n, C, side, side) -> activations (n, 1280, side, side).

    `tail` = (weight (1280, C), bias (1280,)), numpy or torch; the activation is the tower's own (ReLU6)."""
    import torch

    w, b = (torch.as_tensor(np.asarray(v, dtype=np.float32)) if not isinstance(v, torch.Tensor) else v for v in tail)
    return torch.nn.functional.relu6(torch.nn.functional.conv2d(maps, w[:, :, None, None], b))


def pretrained_tail(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """The pretrained head conv with its batch norm folded in (what a retrained tail starts from), float32."""
    import torch

    bn = model._bn1
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        w = model._conv_head.weight[:, :, 0, 0] * scale[:, None]
        b = bn.bias - bn.running_mean * scale
    return w.numpy().astype(np.float32), b.numpy().astype(np.float32)


def bridge_embedding(logits: np.ndarray, prompts: np.ndarray, *, top: int = BRIDGE_TOP) -> np.ndarray:
    """The `bridge` image embedding from logits (n, C) and class prompts (C, d): top-k softmax-weighted, (n, d)."""
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=1, keepdims=True)
    keep = np.argsort(-probs, axis=1)[:, :top]
    weights = np.zeros_like(probs)
    np.put_along_axis(weights, keep, np.take_along_axis(probs, keep, axis=1), axis=1)
    return l2_normalize((weights @ prompts).astype(np.float32))


class AlignedText:
    """Text -> MiniLM (English) or e5 mapped into MiniLM's space (other languages, see _multilingual; also
    through a dictionary where one reads them, see _lexicon) -> text head."""

    modality = "text"

    def __init__(self, text: MiniLMText, heads: Heads) -> None:
        self.text, self.heads = text, heads
        self.name, self.dim = text_name(heads), heads.dim

    def encode(self, batch: Sequence[str]) -> np.ndarray:
        english = [_multilingual.is_english(t) for t in batch]
        other = _multilingual.shared() if not all(english) else None
        if other is None:
            english = [True] * len(batch)
        x = np.zeros((len(batch), self.text.dim), np.float32)
        rows = [i for i, e in enumerate(english) if e]
        if rows:
            x[rows] = self.text.encode([self.heads.prompt(batch[i]) for i in rows])
        rows = [i for i, e in enumerate(english) if not e]
        if rows:
            x[rows] = other.encode([batch[i] for i in rows])
            glossed = [(i, g) for i, g in ((i, _multilingual.gloss(batch[i])) for i in rows) if g]
            if glossed:  # a text a dictionary reads: GLOSS_WEIGHT of it from its words on MiniLM, the rest from e5
                idx = [i for i, _ in glossed]
                words = self.text.encode([self.heads.prompt(g) for _, g in glossed])
                x[idx] = l2_normalize((1 - GLOSS_WEIGHT) * x[idx] + GLOSS_WEIGHT * words)
        return self.heads.text(x)


class AlignedImage:
    """Image -> EfficientNet-Lite features (the checkpoint's towers, one bridge each) + the first's bridge
    embedding -> image head."""

    modality = "image"

    def __init__(self, bridges: Sequence[ImageNetBridge], heads: Heads) -> None:
        if tuple(b.tower.name for b in bridges) != heads.towers:
            raise EncoderError(f"the heads read {heads.tower}, not {'+'.join(b.tower.name for b in bridges)}")
        self.bridges, self.heads = tuple(bridges), heads
        self.name, self.dim = image_name(heads), heads.dim

    def encode(self, batch: Sequence[Any]) -> np.ndarray:
        feats, logits = lite_features(self.bridges, batch, self.heads.image_features, tail=self.heads.tail)
        return self.heads.image(feats, bridge_embedding(logits, self.bridges[0].prompts))


def text_name(heads: Heads) -> str:
    return f"aligned-{heads.digest}+{MiniLMText.name}"


def image_name(heads: Heads) -> str:
    return f"aligned-{heads.digest}+" + "+".join(f"effnet{t}" for t in heads.towers)


@functools.lru_cache(maxsize=1)
def current_digest() -> str:
    return load_heads().digest


def digest_of(name: str) -> str | None:
    """'aligned-8bd132ed8e+minilm-l6-v2' -> '8bd132ed8e' (None for other encoders' names)."""
    head, _, _ = name.partition("+")
    return head[len("aligned-"):] if head.startswith("aligned-") else None


def build(arg: str) -> EncoderSet:
    """Names and dims come from the checkpoint (a small file); the towers load on first encode()."""
    from mmrec_core.encoders.librosa_audio import LibrosaAudio

    path = checkpoint(arg)
    if arg and not path.is_file():
        raise EncoderUnavailable(f"the aligned checkpoint {arg} is not shipped with this version of mmrec; "
                                 "re-encode the store with the current one (mmrec ingest STORE --store NEW)")
    heads = load_heads(path)
    if arg and heads.digest != arg:
        raise EncoderError(f"{path} has digest {heads.digest}, not {arg}")
    lock = threading.Lock()
    towers: dict[str, Any] = {}

    def minilm() -> MiniLMText:
        with lock:
            if "text" not in towers:
                towers["text"] = MiniLMText()
            return towers["text"]

    text = LazyEncoder(text_name(heads), "text", heads.dim, lambda: AlignedText(minilm(), heads),
                       cache_salt=_multilingual.cache_salt)
    image = LazyEncoder(image_name(heads), "image", heads.dim,
                        lambda: AlignedImage([ImageNetBridge(minilm(), tower=t) for t in heads.towers], heads),
                        prepare=functools.partial(tower_pixels, sizes=tuple(v.size for v in _towers.lites(heads.tower))))
    return EncoderSet(f"aligned:{arg}" if arg else "aligned", text, image, LibrosaAudio())
