"""The open_clip encoder family: `openclip:ARCH/TAG` (hub or cache) or `openclip:ARCH@PATH` (local file).

Offline, a hub tag that is not already cached fails within seconds with an EncoderUnavailable
that says how to supply a checkpoint file instead.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from mmrec_core.encoders import _runtime
from mmrec_core.encoders._base import EncoderSet, torch_threads
from mmrec_core.encoders._towers import wrap
from mmrec_core.errors import EncoderError, EncoderUnavailable, UnknownNameError
from mmrec_core.vectors import l2_normalize

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
HUB_HOST = ("huggingface.co", 443)


def hub_reachable(timeout: float = 3.0) -> bool:
    """True if the model hub answers a TCP connect within `timeout` s (DNS included)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection(HUB_HOST, timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def resolve_pretrained(arch: str, pretrained: str) -> tuple[str, str]:
    """(value for open_clip's `pretrained=`, cache-key id) for a tag or a checkpoint path."""
    import open_clip

    extra = os.environ.get("MMREC_OPENCLIP_CONFIGS")
    if extra:  # a folder (or file) of open_clip model-config JSON for architectures open_clip lacks
        open_clip.add_model_config(extra)
    if arch not in open_clip.list_models():
        raise UnknownNameError(f"unknown open_clip architecture {arch!r}. Available: {', '.join(open_clip.list_models()[:12])}, ...")
    path = Path(pretrained).expanduser()
    if path.is_file():
        return str(path), "file-" + file_digest(path)
    if path.suffix in CHECKPOINT_SUFFIXES or "/" in pretrained:
        raise EncoderUnavailable(f"open_clip checkpoint file {pretrained!r} not found")
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if pretrained not in tags:
        raise UnknownNameError(f"unknown pretrained tag {pretrained!r} for {arch}. Available: {', '.join(tags) or 'none'}")
    cached = _cached_file(arch, pretrained)
    if cached is not None:
        return cached, pretrained
    if not hub_reachable():
        raise EncoderUnavailable(
            f"cannot download open_clip weights {arch}/{pretrained}: the model hub is unreachable (offline?) "
            f"and they are not in the local cache. Download the checkpoint on a machine with internet "
            f"(e.g. open_clip_pytorch_model.bin from the model's hub page) and pass it as "
            f"--encoder openclip:{arch}@PATH/TO/open_clip_pytorch_model.bin."
        )
    return pretrained, pretrained


def _cached_file(arch: str, tag: str) -> str | None:
    """A checkpoint for arch/tag already in the Hugging Face cache, or None."""
    import open_clip

    cfg = open_clip.get_pretrained_cfg(arch, tag) or {}
    repo = (cfg.get("hf_hub") or "").strip("/")
    if not repo:
        return None
    from huggingface_hub import try_to_load_from_cache

    for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return found
    return None


def file_digest(path: Path) -> str:
    """A fast content id: sha256 over size, first and last MiB."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, path.stat().st_size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:12]


def parse_spec(arg: str) -> tuple[str, str]:
    """'ARCH/TAG', 'ARCH@PATH' or 'ARCH/PATH' (absolute paths may drop their leading '/') -> (arch, pretrained)."""
    if "@" in arg:
        arch, _, pretrained = arg.partition("@")
    else:
        arch, _, pretrained = arg.partition("/")
        if pretrained and not Path(pretrained).exists() and Path("/" + pretrained).is_file():
            pretrained = "/" + pretrained
    if not arch or not pretrained:
        raise EncoderError(f"open_clip encoder needs 'openclip:ARCH/PRETRAINED_TAG' or 'openclip:ARCH@CHECKPOINT', got 'openclip:{arg}'")
    return arch, pretrained


class OpenClipModel:
    """One open_clip model shared by its text and image encoders; each tower runs on the runtime (see _runtime):
    converted once from the loaded weights, keyed by their content id, like the shipped towers."""

    def __init__(self, arch: str, pretrained: str, *, runtime: str | None = None) -> None:
        import open_clip

        torch_threads()
        source, ident = resolve_pretrained(arch, pretrained)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=source, device="cpu")
        except (RuntimeError, ValueError, OSError, KeyError, pickle.UnpicklingError) as exc:
            # torch.load runs with weights_only=True: a checkpoint carrying code is refused here
            raise EncoderError(f"cannot load open_clip {arch} from {pretrained!r}: {exc}") from None
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.name = f"openclip:{arch}/{ident}"
        with __import__("torch").inference_mode():
            self.dim = int(self.model.encode_text(self.tokenizer(["x"])).shape[1])
        self.lock = threading.Lock()
        size = getattr(self.model.visual, "image_size", 224)
        self.image_size = tuple(size) if isinstance(size, (tuple, list)) else (int(size), int(size))
        key = hashlib.sha256(self.name.encode()).hexdigest()[:16]
        self.text_forward = _runtime.load(self._tower("text", key), runtime=runtime)
        self.image_forward = _runtime.load(self._tower("image", key), runtime=runtime)

    def _tower(self, part: str, key: str) -> _runtime.Tower:
        """encode_text (int64 tokens (n, context)) or encode_image (float32 (n, 3, H, W)) -> float32 (n, dim)."""
        model, tokenizer, size = self.model, self.tokenizer, self.image_size

        def build() -> tuple[object, tuple[object, ...]]:
            import torch

            if part == "text":
                return wrap(lambda p, tokens: p["clip"].encode_text(tokens), clip=model), (tokenizer(["a", "b c"]),)
            return wrap(lambda p, x: p["clip"].encode_image(x), clip=model), (torch.zeros((2, 3, *size)),)

        arch = self.name.split(":", 1)[1].split("/", 1)[0]
        return _runtime.Tower(f"openclip-{arch}-{part}", key, build)


class OpenClipText:
    modality = "text"

    def __init__(self, clip: OpenClipModel, batch_size: int = 64) -> None:
        self.clip, self.batch_size = clip, batch_size
        self.name, self.dim = clip.name + "#text", clip.dim

    def encode(self, batch: Sequence[str]) -> np.ndarray:
        import torch

        out = np.zeros((len(batch), self.dim), np.float32)
        for s in range(0, len(batch), self.batch_size):
            tokens = self.clip.tokenizer(list(batch[s : s + self.batch_size])).numpy().astype(np.int64)
            out[s : s + tokens.shape[0]] = self.clip.text_forward(tokens)[0]
        return l2_normalize(out)


class OpenClipImage:
    modality = "image"

    def __init__(self, clip: OpenClipModel, batch_size: int = 16) -> None:
        self.clip, self.batch_size = clip, batch_size
        self.name, self.dim = clip.name + "#image", clip.dim

    def encode(self, batch: Sequence["Image.Image"]) -> np.ndarray:
        import torch

        out = np.zeros((len(batch), self.dim), np.float32)
        for s in range(0, len(batch), self.batch_size):
            x = torch.stack([self.clip.preprocess(im) for im in batch[s : s + self.batch_size]]).numpy()
            out[s : s + x.shape[0]] = self.clip.image_forward(x)[0]
        return l2_normalize(out)


def build(arg: str) -> EncoderSet:
    """The `openclip` family: an open_clip model's text and image towers, librosa audio."""
    arch, pretrained = parse_spec(arg)
    from mmrec_core.encoders.librosa_audio import LibrosaAudio

    clip = OpenClipModel(arch, pretrained)
    return EncoderSet(clip.name, OpenClipText(clip), OpenClipImage(clip), LibrosaAudio())
