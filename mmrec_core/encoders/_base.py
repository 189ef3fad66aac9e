"""The encoder protocol, the set of encoders a store uses, lazy loading, and where model caches live.

Every encoder family builds on these; nothing here imports a model (torch loads inside the towers).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from mmrec_core.errors import EncoderError


class Encoder(Protocol):
    """name, modality, dim, and encode(batch) -> float32 (n, dim) L2-normalised.

    An encoder may also have `prepare(x)`: the part of encoding that needs no model (resizing an image, a
    spectrogram); ingestion runs it where it decodes, ahead of the forward pass, and encode() accepts its
    output as well as a raw input."""

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


def torch_threads() -> None:
    import torch

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))


def cache_dir() -> Path:
    """Where mmrec keeps model-derived caches: $MMREC_CACHE_DIR or ~/.cache/mmrec."""
    return Path(os.environ.get("MMREC_CACHE_DIR") or Path.home() / ".cache" / "mmrec")


class LazyEncoder:
    """An encoder whose model loads on the first encode(); name and dim are known up front,
    so cache look-ups (and a fully cached ingest) never load the model."""

    def __init__(self, name: str, modality: str, dim: int, build: Callable[[], Encoder], *,
                 prepare: Callable[[Any], Any] | None = None, cache_salt: Callable[[str], str] | None = None) -> None:
        self.name, self.modality, self.dim = name, modality, dim
        self._build = build
        if prepare is not None:  # the model-free part of encoding (see the protocol): no model load for it
            self.prepare = prepare
        if cache_salt is not None:  # texts this encoder reads another way than its name says (see _multilingual)
            self.cache_salt = cache_salt
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
