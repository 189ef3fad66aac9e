"""Video clips: sampled frames with their times, and the soundtrack, decoded with PyAV (FFmpeg inside its wheel).

A clip is not a fourth space. Its frames go through the image encoder and its soundtrack through the
audio encoder; the item's image vector is the mean of its frame vectors, re-normalised (`pool`).
Sampling: one frame every `step` seconds of the clip, evenly spread (frame k of F at (k + 0.5) * D / F),
at least 1 and at most `max_frames` (16) per clip. Times are presentation times, so a
variable-frame-rate clip is sampled by time, not by frame count. Clips longer than `keyframes_after`
seconds are sampled from their key frames only (decoding every frame of a long clip is not affordable).
Animated GIF and WebP are decoded with Pillow and sampled the same way.
"""

from __future__ import annotations

import io
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from mmrec_core.catalog._media import MAX_AUDIO_SECONDS, MAX_IMAGE_PIXELS, Source
from mmrec_core.errors import MediaError
from mmrec_core.vectors import l2_normalize

VIDEO_EXTS = frozenset({".mp4", ".webm", ".ogv", ".mkv", ".mov", ".gif", ".webp"})
ANIMATED_IMAGE_EXTS = frozenset({".gif", ".webp"})  # Pillow decodes these (FFmpeg has no animated-WebP decoder)
MAX_ANIMATION_FRAMES = 5000  # an animated GIF/WebP is read up to here (Pillow decodes frames in order)
FRAME_SIDE = 384  # frames are scaled so their longest side is at most this: the encoders need <= 224 px


@dataclass(frozen=True)
class VideoLimits:
    """What one clip may be; beyond these it is refused (or, for decode time, cut short) with a clear message."""

    max_bytes: int = 200 * 2**20
    max_seconds: float = 20 * 60.0
    max_pixels: int = 3840 * 2160  # 4K UHD
    max_frames: int = 16
    step: float = 0.5  # seconds between sampled frames, before the max_frames cap
    decode_seconds: float = 20.0  # wall-clock budget for sampling the frames of one clip
    keyframes_after: float = 60.0
    audio_seconds: float = MAX_AUDIO_SECONDS


@dataclass(frozen=True)
class Clip:
    """Sampled frames: RGB PIL images (longest side <= FRAME_SIDE) and times (F,) float32 seconds, increasing."""

    frames: tuple[Any, ...]
    times: np.ndarray
    duration: float
    note: str = ""  # set when sampling was cut short (decode budget reached)


def _probe_size(src: Source, limits: VideoLimits) -> None:
    size = len(src) if isinstance(src, bytes) else os.path.getsize(src) if isinstance(src, (str, Path)) else None
    if size is not None and size > limits.max_bytes:
        raise MediaError(f"video is {size / 2**20:.1f} MB; the limit is {limits.max_bytes / 2**20:.0f} MB")
    if size == 0:
        raise MediaError("video file is empty")


def _is_animated_image(src: Source) -> bool:
    if isinstance(src, (str, Path)):
        return Path(src).suffix.lower() in ANIMATED_IMAGE_EXTS
    head = src[:16] if isinstance(src, bytes) else b""
    return head.startswith((b"GIF87a", b"GIF89a")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _open_av(src: Source) -> Any:
    import av

    target = io.BytesIO(src) if isinstance(src, bytes) else str(src) if isinstance(src, Path) else src
    try:
        return av.open(target, mode="r")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise MediaError(f"cannot open video: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    import av

    if isinstance(exc, av.InvalidDataError):
        return "the file is corrupt, truncated or not a video"
    text = str(exc).split("] ", 1)[-1].strip()
    return text or type(exc).__name__


def load_video(src: Source, *, limits: VideoLimits = VideoLimits()) -> Clip:
    """Decode a clip and sample its frames (see the module docstring); MediaError when it cannot be used."""
    _probe_size(src, limits)
    if _is_animated_image(src):
        return _load_animated_image(src, limits)
    import av

    with _open_av(src) as container:
        if not container.streams.video:
            raise MediaError("video has no video stream (no frames to show)")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        w, h = int(ctx.width or 0), int(ctx.height or 0)
        if w * h > limits.max_pixels:
            raise MediaError(f"video is {w}x{h} pixels; the limit is {limits.max_pixels:,} pixels per frame")
        duration = _duration(container, stream)
        if duration > limits.max_seconds:
            raise MediaError(f"video is {clock(duration)} long; the limit is {clock(limits.max_seconds)}")
        stream.thread_type = "AUTO"
        if duration > limits.keyframes_after:
            ctx.skip_frame = "NONKEY"
        scaled = _fit(w, h)

        def frames() -> Iterator[tuple[float, Any]]:
            fallback_rate, t0 = float(stream.average_rate or 25), _start(stream)
            for k, frame in enumerate(container.decode(stream)):
                t = frame.time - t0 if frame.time is not None else k / fallback_rate
                if frame.width * frame.height > limits.max_pixels:  # a resolution change mid-stream
                    raise MediaError(f"video frame at {clock(t)} is {frame.width}x{frame.height} pixels; "
                                     f"the limit is {limits.max_pixels:,}")
                yield float(t), frame

        def to_image(frame: Any) -> Any:
            return frame.to_image(width=scaled[0], height=scaled[1])

        try:
            return _sample(frames(), to_image, duration, limits)
        except av.FFmpegError as exc:
            raise MediaError(f"cannot decode video: {_reason(exc)}") from None


def _duration(container: Any, stream: Any) -> float:
    """Seconds from the container or the stream; 0.0 when neither says (sampling then adapts as it reads)."""
    if stream.duration and stream.time_base:
        return max(0.0, float(stream.duration * stream.time_base))
    if container.duration:
        return max(0.0, container.duration / 1_000_000)
    return 0.0


def _start(stream: Any) -> float:
    """The stream's first presentation time: frame times are kept relative to it (0 = the clip's start)."""
    return float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0


def _fit(w: int, h: int) -> tuple[int, int]:
    if w <= 0 or h <= 0:
        return FRAME_SIDE, FRAME_SIDE
    s = min(1.0, FRAME_SIDE / max(w, h))
    return max(2, round(w * s) // 2 * 2), max(2, round(h * s) // 2 * 2)


def _sample(frames: Iterator[tuple[float, Any]], to_image: Callable[[Any], Any], duration: float,
            limits: VideoLimits) -> Clip:
    """Pick the frames nearest to evenly spread target times; when the duration is unknown, thin a reservoir.

    The targets go on at the same spacing past a declared duration that was too short (some muxers
    write one), up to max_frames; a clip that ends early keeps its last frame.
    """
    start, note = time.perf_counter(), ""
    n_target = max(1, min(limits.max_frames, math.ceil(duration / limits.step))) if duration > 0 else 0
    spacing = duration / n_target if n_target else 0.0
    picked: list[tuple[float, Any]] = []
    reservoir: list[tuple[float, Any]] = []  # duration unknown: every `stride`-th frame, thinned as it fills
    stride, seen, k, prev, last_t = 1, 0, 0, None, 0.0
    for t, frame in frames:
        if (picked or reservoir) and time.perf_counter() - start > limits.decode_seconds:
            note = f"decoding stopped after {limits.decode_seconds:.0f} s, at {clock(t)}: frames sampled up to there"
            break
        if t > limits.max_seconds:
            note = f"only the first {clock(limits.max_seconds)} were sampled"
            break
        last_t = t
        if not n_target:
            if seen % stride == 0:
                reservoir.append((t, to_image(frame)))
                if len(reservoir) > 2 * limits.max_frames:
                    reservoir, stride = reservoir[::2], stride * 2
            seen += 1
            continue
        while len(picked) < limits.max_frames and t >= (k + 0.5) * spacing:
            target, k = (k + 0.5) * spacing, k + 1
            best = prev if prev is not None and abs(prev[0] - target) < abs(t - target) else (t, frame)
            if not picked or picked[-1][0] < best[0]:  # two targets between two frames: one frame is enough
                picked.append((best[0], to_image(best[1])))
        if len(picked) >= limits.max_frames:
            break
        prev = (t, frame)
    if n_target and k < n_target and prev is not None and (not picked or picked[-1][0] < prev[0]):
        picked.append((prev[0], to_image(prev[1])))  # the clip ended before its declared duration
    if not n_target:
        picked = _even(reservoir, limits.max_frames, limits.step)
    if not picked:
        raise MediaError("video has no decodable frames")
    times = np.array([t for t, _ in picked], np.float32)
    return Clip(tuple(img for _, img in picked), times, max(duration, last_t), note)


def _even(kept: list[tuple[float, Any]], max_frames: int, step: float) -> list[tuple[float, Any]]:
    if not kept:
        return []
    span = kept[-1][0] - kept[0][0]
    n = max(1, min(max_frames, len(kept), math.ceil(span / step) if span > 0 else 1))
    idx = sorted({round(x) for x in np.linspace(0, len(kept) - 1, n)})
    return [kept[i] for i in idx]


def _load_animated_image(src: Source, limits: VideoLimits) -> Clip:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)
        with img:
            w, h = img.size
            if w * h > min(limits.max_pixels, MAX_IMAGE_PIXELS):
                raise MediaError(f"animation is {w}x{h} pixels; the limit is {limits.max_pixels:,} pixels per frame")
            n = getattr(img, "n_frames", 1)
            durations = []
            for k in range(min(n, MAX_ANIMATION_FRAMES)):  # durations first: they give the clip's length
                img.seek(k)
                img.load()  # WebP sets a frame's duration only once it is loaded
                durations.append(max(0.0, float(img.info.get("duration") or 100) / 1000))
            starts = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
            total = float(sum(durations))

            def frames() -> Iterator[tuple[float, int]]:
                yield from ((float(starts[k]), k) for k in range(min(n, len(durations))))

            def to_image(k: int) -> Any:
                img.seek(k)
                rgba = img.convert("RGBA")
                canvas = Image.new("RGB", rgba.size, (255, 255, 255))
                canvas.paste(rgba, mask=rgba.getchannel("A"))
                canvas.thumbnail((FRAME_SIDE, FRAME_SIDE))
                return canvas

            return _sample(frames(), to_image, total, limits)
    except MediaError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise MediaError(f"cannot decode animation: {exc}") from None


def load_soundtrack(src: Source, *, sr: int, limits: VideoLimits = VideoLimits()) -> np.ndarray:
    """The clip's first audio stream as mono float32 at `sr` Hz, at most `limits.audio_seconds` long, shape (samples,).

    MediaError when the clip has no soundtrack (a silent clip) or it cannot be decoded.
    """
    _probe_size(src, limits)
    if _is_animated_image(src):
        raise MediaError("animations have no soundtrack")
    import av

    with _open_av(src) as container:
        if not container.streams.audio:
            raise MediaError("video has no soundtrack")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        chunks, n, limit = [], 0, int(limits.audio_seconds * sr)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    n += chunks[-1].size
                if n >= limit:
                    break
            else:
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
        except av.FFmpegError as exc:
            if not chunks:
                raise MediaError(f"cannot decode the soundtrack: {_reason(exc)}") from None
    y = np.concatenate(chunks)[:limit] if chunks else np.zeros(0, np.float32)
    if y.size == 0:
        raise MediaError("the soundtrack has no samples")
    if not np.all(np.isfinite(y)):
        raise MediaError("the soundtrack contains NaN or infinite samples")
    return np.ascontiguousarray(y, dtype=np.float32)


def frame_at(src: Source, t: float, *, side: int = FRAME_SIDE) -> Any:
    """The frame shown at `t` seconds (RGB PIL image, longest side <= side), for showing why a clip matched."""
    limits = VideoLimits(max_frames=1)
    _probe_size(src, limits)
    if _is_animated_image(src):
        clip = _load_animated_image(src, VideoLimits(max_frames=VideoLimits.max_frames))
        k = int(np.argmin(np.abs(clip.times - t)))
        return clip.frames[k]
    import av

    with _open_av(src) as container:
        if not container.streams.video:
            raise MediaError("video has no video stream")
        stream = container.streams.video[0]
        t = t + _start(stream)
        try:
            if t > 0 and stream.time_base:
                container.seek(int(t / stream.time_base), stream=stream, backward=True, any_frame=False)
            found = None
            for frame in container.decode(stream):
                if found is None or frame.time is None or frame.time <= t + 1e-3:
                    found = frame
                if frame.time is not None and frame.time >= t - 1e-3:
                    break
        except av.FFmpegError as exc:
            raise MediaError(f"cannot decode video: {_reason(exc)}") from None
        if found is None:
            raise MediaError("video has no decodable frames")
        w, h = _fit(found.width, found.height)
        s = min(1.0, side / max(w, h))
        return found.to_image(width=max(2, round(w * s)), height=max(2, round(h * s)))


@dataclass(frozen=True)
class FrameTable:
    """The sampled frames of a store's videos: rows (T,) int32 store row (non-decreasing), times (T,) float32
    seconds, vectors (T, d) float32 L2-normalised in the image space."""

    rows: np.ndarray
    times: np.ndarray
    vectors: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> "FrameTable":
        return cls(np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros((0, dim), np.float32))

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def of(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(times (F,), vectors (F, d)) of one store row; empty when the item has no video."""
        lo, hi = np.searchsorted(self.rows, [row, row + 1])
        return np.asarray(self.times[lo:hi]), np.asarray(self.vectors[lo:hi])

    def best(self, row: int, query: np.ndarray) -> tuple[float, float] | None:
        """(time, cosine) of the row's frame closest to an image-space query (d,); None without frames."""
        times, vecs = self.of(row)
        if not len(times):
            return None
        sims = vecs @ np.asarray(query, np.float32)
        k = int(np.argmax(sims))
        return float(times[k]), float(sims[k])


def encode_clips(encode: Callable[[list[Any]], np.ndarray], clips: list[Clip]) -> list[np.ndarray]:
    """Every clip's frames through one image-encoder call; returns packed (see `pack`) float32 vectors, one per clip."""
    flat = [img for clip in clips for img in clip.frames]
    vecs = encode(flat) if flat else np.zeros((0, 0), np.float32)
    out, start = [], 0
    for clip in clips:
        n = len(clip.frames)
        out.append(pack(clip.times, vecs[start : start + n]))
        start += n
    return out


def pack(times: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(F,) times and (F, d) frame vectors as one flat float32 vector for the embedding cache: times, then rows."""
    return np.concatenate([np.asarray(times, np.float32), np.asarray(vectors, np.float32).reshape(-1)])


def unpack(flat: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `pack` for frame vectors of dimension `dim`: (times (F,), vectors (F, dim))."""
    flat = np.asarray(flat, np.float32)
    n, rest = divmod(flat.size, dim + 1)
    if rest or n == 0:
        raise MediaError(f"packed frame vectors of length {flat.size} do not fit dimension {dim}")
    return flat[:n].copy(), flat[n:].reshape(n, dim).copy()


def pool(vectors: np.ndarray) -> np.ndarray:
    """A clip's image vector: the mean of its (F, d) frame vectors, L2-normalised, shape (d,)."""
    return l2_normalize(np.asarray(vectors, np.float32).mean(axis=0, keepdims=True))[0]


def clock(seconds: float) -> str:
    """Seconds as m:ss.s (h:mm:ss from an hour on)."""
    m, s = divmod(max(0.0, float(seconds)), 60)
    return f"{int(m)}:{s:04.1f}" if m < 60 else f"{int(m // 60)}:{int(m % 60):02d}:{int(s):02d}"
