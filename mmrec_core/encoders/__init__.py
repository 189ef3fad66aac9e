"""Encoders behind one protocol (name, modality, dim, encode(batch) -> float32 (n, dim) L2-normalised), by family name.

Families are public modules (`aligned`, the offline default; `bridge`; `openclip`; audio: `librosa_audio`, `aisfx_audio`);
the registry imports them lazily, so listing or parsing specs loads no model. Towers import torch inside.
"""

from __future__ import annotations

from mmrec_core.encoders._base import EncoderSet, cache_dir, torch_threads
from mmrec_core.encoders._registry import (DEFAULT_ENCODER, get_encoders, list_encoders, load_encoders,
                                           spec_of_vectors, warm_up)
from mmrec_core.encoders._runtime import runtime_name

__all__ = ["DEFAULT_ENCODER", "EncoderSet", "cache_dir", "get_encoders", "list_encoders", "load_encoders",
           "runtime_name", "spec_of_vectors", "text_reading", "text_words", "torch_threads", "warm_up"]


def text_reading(text: str) -> str | None:
    """How the offline default reads a text in another language, for a page to say (see _multilingual.reading);
    imported on first use, so that importing the encoders loads no word list machinery."""
    from mmrec_core.encoders._multilingual import reading

    return reading(text)


def text_words(text: str) -> list[str] | None:
    """A Chinese or Japanese text cut into dictionary words (see _lexicon.segmented), None for other texts; imported
    on first use, as text_reading."""
    from mmrec_core.encoders._lexicon import segmented

    return segmented(text)
