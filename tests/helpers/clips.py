"""Generated video clips for the tests (PyAV): coloured frames, an optional tone, variable frame rate."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np


def write_clip(path: Path, frames: Sequence[np.ndarray], *, times: Sequence[float] | None = None, fps: int = 10,
               tone_hz: float | None = 440.0, codec: str = "libx264") -> Path:
    """Encode HxWx3 uint8 frames to `path` (mp4/mkv/mov with h264+aac, webm with vp9+opus).

    `times` (seconds, increasing) makes a variable-frame-rate clip; `tone_hz=None` a silent one.
    """
    import av

    webm = path.suffix == ".webm"
    codec = "libvpx-vp9" if webm else codec
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        rate = 1000 if times is not None else fps
        v = out.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        if times is not None:
            v.codec_context.time_base = Fraction(1, 1000)
        a = out.add_stream("libopus" if webm else "aac", rate=48000 if webm else 22050) if tone_hz else None
        for k, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr, np.uint8), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = int(round(times[k] * 1000)), Fraction(1, 1000)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        if a is not None:
            seconds = (times[-1] if times is not None else len(frames) / fps) + 0.1
            sr, n, pts = a.rate, 960, 0
            while pts < seconds * sr:
                t = (pts + np.arange(n)) / sr
                af = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)[None, :],
                                                format="flt", layout="mono")
                af.sample_rate, af.pts = sr, pts
                pts += n
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode():
                out.mux(p)
    return path


def colour_frames(n: int, *, size: tuple[int, int] = (64, 48), seed: int = 0) -> list[np.ndarray]:
    """n frames, each a flat colour that changes over the clip (so frames differ)."""
    rng = np.random.default_rng(seed)
    start, end = rng.integers(0, 255, 3), rng.integers(0, 255, 3)
    return [np.broadcast_to(((1 - f) * start + f * end).astype(np.uint8), (size[1], size[0], 3)).copy()
            for f in np.linspace(0, 1, n)]


def audio_only_mp4() -> bytes:
    """An .mp4 with a soundtrack and no video stream (a clip with zero frames)."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=22050)
        for k in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            frame.sample_rate, frame.pts = 22050, k * 1024
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return buf.getvalue()
