"""Encoders registered by family name: `aligned` (the offline default), `bridge`, `openclip`, plus audio suffixes.

A family is a module with `build(arg) -> EncoderSet`; it is listed in _FAMILIES (one line) and imported only
when a spec names it, so listing or parsing specs loads no model. The families import only _base and
_bridge, never this module.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import threading
from typing import Any, Callable, Mapping

from mmrec_core.encoders._base import Encoder, EncoderSet
from mmrec_core.errors import EncoderUnavailable, UnknownNameError

DEFAULT_ENCODER = "aligned+aisfx"  # trained heads over the bridge's towers (_aligned.py); aisfx audio (_aisfx.py)
FALLBACK_ENCODER = "bridge"  # needs nothing but the pretrained towers
AUDIO_SUFFIXES = ("aisfx",)  # SPEC+aisfx: that text/image family with the aisfx audio encoder (default audio: librosa)

# family name -> (module with build(arg) -> EncoderSet, usage)
_FAMILIES: dict[str, tuple[str, str]] = {
    "bridge": ("mmrec_core.encoders.bridge", "bridge"),
    "aligned": ("mmrec_core.encoders.aligned", "aligned[:DIGEST] (DIGEST: an earlier checkpoint a store was encoded with)"),
    "openclip": ("mmrec_core.encoders.openclip", "openclip:ARCH/PRETRAINED_TAG or openclip:ARCH@PATH/TO/checkpoint"),
}
_LOADED: dict[str, EncoderSet] = {}
_LOCK = threading.Lock()


def _builder(family: str) -> Callable[[str], EncoderSet]:
    return importlib.import_module(_FAMILIES[family][0]).build


def list_encoders() -> dict[str, str]:
    """Family name -> usage string."""
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
    from mmrec_core.encoders.aisfx_audio import AisfxAudio

    return AisfxAudio()


def get_encoders(name: str = DEFAULT_ENCODER) -> EncoderSet:
    """The EncoderSet for `name`, built once per process (thread-safe) and reused."""
    base, audio = split_audio(name)
    family, _, arg = base.partition(":")
    if family not in _FAMILIES:
        raise UnknownNameError(f"unknown encoder {name!r}. Available: {', '.join(list_encoders().values())}")
    shared = get_encoders(base) if audio else None  # 'aligned+aisfx' shares aligned's text and image towers
    with _LOCK:
        if name not in _LOADED:
            _LOADED[name] = (_builder(family)(arg) if shared is None else
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
    from mmrec_core.encoders.aligned import current_digest, digest_of

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


def warm_up(name: str = DEFAULT_ENCODER) -> dict[str, float]:
    """Load every tower of an encoder (converting it for the runtime on first use) by encoding one tiny input per
    modality; the seconds each modality took. A later process then loads the converted towers from the cache."""
    import time

    import numpy as np
    from PIL import Image

    enc = get_encoders(name)
    seconds = {}
    for modality, run in (("text", lambda: enc.text.encode(["warm up"])),
                          ("image", lambda: enc.image.encode([Image.new("RGB", (64, 64), "white")])),
                          ("audio", lambda: enc.audio.features([np.zeros(enc.audio.sample_rate, np.float32)]))):
        start = time.perf_counter()
        run()
        seconds[modality] = time.perf_counter() - start
    return seconds
