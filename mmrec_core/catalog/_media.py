"""Safe decoding of user media: images to RGB PIL images, audio to mono float32 waveforms."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mmrec_core.errors import MediaError

MAX_IMAGE_PIXELS = 40_000_000  # above this, a decompression bomb rather than a photo
AUDIO_SR = 22050
MAX_AUDIO_SECONDS = 30.0

Source = str | Path | bytes | BinaryIO


def _open(src: Source) -> BinaryIO | str:
    if isinstance(src, bytes):
        return io.BytesIO(src)
    if isinstance(src, Path):
        return str(src)
    return src


def load_image(src: Source, *, max_pixels: int = MAX_IMAGE_PIXELS) -> "Image.Image":
    """Decode an image to RGB (transparency composited on white); first frame of animations."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # our own pixel limit below replaces PIL's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(_open(src))
        with img:
            w, h = img.size
            if w < 1 or h < 1 or w * h > max_pixels:
                raise MediaError(f"image is {w}x{h} pixels; the limit is {max_pixels:,} pixels")
            img.seek(0)
            img.draft("RGB", (512, 512))  # JPEG: decode at reduced size, the encoders need <= 224 px
            img.load()
            if img.mode in ("RGBA", "LA", "P", "PA"):
                rgba = img.convert("RGBA")
                canvas = Image.new("RGB", rgba.size, (255, 255, 255))
                canvas.paste(rgba, mask=rgba.getchannel("A"))
                return canvas
            return img.convert("RGB")
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MediaError(f"cannot decode image: {exc}") from None


def load_audio(src: Source, *, sr: int = AUDIO_SR, max_seconds: float = MAX_AUDIO_SECONDS) -> np.ndarray:
    """Decode audio to mono float32 at `sr` Hz, at most `max_seconds` long, shape (samples,)."""
    import soundfile as sf

    try:
        with sf.SoundFile(_open(src)) as f:
            frames = min(f.frames, int(max_seconds * f.samplerate)) if f.frames > 0 else int(max_seconds * f.samplerate)
            data = f.read(frames=frames, dtype="float32", always_2d=True)
            native_sr = f.samplerate
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        data, native_sr = _load_with_librosa(src, sr, max_seconds, exc)
    y = data.mean(axis=1) if data.ndim == 2 else data
    if y.size == 0:
        raise MediaError("audio has no samples")
    if not np.all(np.isfinite(y)):
        raise MediaError("audio contains NaN or infinite samples")
    if native_sr != sr:
        import librosa

        y = librosa.resample(y, orig_sr=native_sr, target_sr=sr)
    return np.ascontiguousarray(y, dtype=np.float32)


def _load_with_librosa(src: Source, sr: int, max_seconds: float, first: Exception) -> tuple[np.ndarray, int]:
    """Fallback for formats libsndfile lacks (e.g. some mp3): librosa via audioread."""
    reason = str(first) or type(first).__name__
    if not isinstance(src, (str, Path)) or Path(src).suffix.lower() != ".mp3":
        raise MediaError(f"cannot decode audio: {reason}") from None
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y, got_sr = librosa.load(str(src), sr=sr, mono=True, duration=max_seconds)
    except Exception as exc:
        raise MediaError(f"cannot decode audio: {reason}; {exc}") from None
    return y.astype(np.float32), int(got_sr)
