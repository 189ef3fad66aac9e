"""Video decoding and sampling (mmrec_core.video) on clips generated with PyAV: formats, times, limits, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from helpers.clips import audio_only_mp4, colour_frames, write_clip
from mmrec_core.catalog import video as video
from mmrec_core.errors import MediaError
from mmrec_core.catalog.video import FrameTable, VideoLimits, load_soundtrack, load_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {
        "mp4": write_clip(d / "a.mp4", colour_frames(40)),  # 4.0 s at 10 fps, with a 440 Hz tone
        "webm": write_clip(d / "a.webm", colour_frames(30, seed=1)),
        "mkv": write_clip(d / "a.mkv", colour_frames(30, seed=2)),
        "mov": write_clip(d / "a.mov", colour_frames(30, seed=3)),
        "silent": write_clip(d / "silent.mp4", colour_frames(20), tone_hz=None),
        "long": write_clip(d / "long.mp4", colour_frames(100, size=(32, 32)), fps=5, tone_hz=None),  # 20 s
        "vfr": write_clip(d / "vfr.mp4", colour_frames(8), times=[0, 0.05, 0.4, 1.5, 1.55, 2.5, 3.9, 4.0], tone_hz=None),
    }


def animation(fmt: str, n: int = 6, ms: int = 250) -> bytes:
    frames = [Image.new("RGB", (40, 30), (40 * k, 255 - 40 * k, 0)) for k in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=ms, loop=0)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["mp4", "webm", "mkv", "mov"])
def test_every_container_samples_one_frame_per_half_second(clips, kind):
    clip = load_video(clips[kind])
    assert 6 <= len(clip.frames) <= 8  # 3-4 s clips, one frame every 0.5 s
    assert np.all(np.diff(clip.times) > 0) and clip.times[0] >= 0 and clip.times[-1] <= clip.duration
    assert all(img.mode == "RGB" and max(img.size) <= video.FRAME_SIDE for img in clip.frames)
    assert not clip.note


def test_frames_are_spread_evenly_and_taken_at_their_own_times(clips):
    clip = load_video(clips["mp4"])
    np.testing.assert_allclose(clip.times, np.arange(8) * 0.5 + 0.3, atol=1e-6)  # nearest 10 fps frame to 0.25+0.5k
    # frame k of the generated clip has a known colour: the sampled image is that frame, not a neighbour
    expected = colour_frames(40)
    for img, t in zip(clip.frames, clip.times):
        got = np.asarray(img, np.float32).mean(axis=(0, 1))
        want = expected[int(round(t * 10))].astype(np.float32).mean(axis=(0, 1))
        assert np.abs(got - want).max() < 6


def test_long_clips_are_capped_at_sixteen_frames(clips):
    clip = load_video(clips["long"])
    assert len(clip.frames) == 16 and clip.duration == pytest.approx(20.0, abs=0.3)
    assert clip.times[0] < 1.0 and clip.times[-1] > 18.5


def test_variable_frame_rate_is_sampled_by_time(clips):
    clip = load_video(clips["vfr"])
    real = {0.0, 0.05, 0.4, 1.5, 1.55, 2.5, 3.9, 4.0}
    assert all(min(abs(t - r) for r in real) < 1e-3 for t in clip.times)  # only real frames, at their own times
    assert len(set(np.round(clip.times, 3))) == len(clip.times)
    assert clip.times[-1] >= 3.9


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_gif_and_webp_are_clips(fmt):
    clip = load_video(animation(fmt))
    assert clip.duration == pytest.approx(1.5)
    assert len(clip.frames) == 3 and np.all(np.diff(clip.times) > 0)
    with pytest.raises(MediaError, match="no soundtrack"):
        load_soundtrack(animation(fmt), sr=16000)


def test_soundtrack_is_mono_float32_at_the_rate_asked(clips):
    y = load_soundtrack(clips["mp4"], sr=16000)
    assert y.dtype == np.float32 and y.ndim == 1 and 3.9 * 16000 <= y.size <= 4.3 * 16000
    spectrum = np.abs(np.fft.rfft(y[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 2  # the 440 Hz tone survives decoding and resampling
    short = load_soundtrack(clips["mp4"], sr=16000, limits=VideoLimits(audio_seconds=1.0))
    assert short.size == 16000
    with pytest.raises(MediaError, match="no soundtrack"):
        load_soundtrack(clips["silent"], sr=16000)


def test_limits_give_clear_messages(clips):
    with pytest.raises(MediaError, match=r"64x48 pixels; the limit is 1,000 pixels"):
        load_video(clips["mp4"], limits=VideoLimits(max_pixels=1000))
    with pytest.raises(MediaError, match=r"0:20.0 long; the limit is 0:10.0"):
        load_video(clips["long"], limits=VideoLimits(max_seconds=10))
    with pytest.raises(MediaError, match=r"MB; the limit is 0 MB"):
        load_video(clips["mp4"], limits=VideoLimits(max_bytes=100))
    cut = load_video(clips["long"], limits=VideoLimits(decode_seconds=0.0))  # the budget keeps what it has
    assert len(cut.frames) >= 1 and "decoding stopped" in cut.note


def test_broken_clips_are_refused_with_a_reason(clips, tmp_path):
    good = clips["mp4"].read_bytes()
    cases = {
        "empty": b"",
        "random": bytes(range(256)) * 40,
        "truncated header": good[:2000],
        "huge gif screen": _gif_with_screen(30000, 30000),
    }
    for name, data in cases.items():
        with pytest.raises(MediaError):
            load_video(data)
    assert len(load_video(animation("PNG", n=1)).frames) == 1  # a still image is a one-frame clip, not an error
    audio_only = tmp_path / "audio-only.mp4"
    audio_only.write_bytes(audio_only_mp4())
    with pytest.raises(MediaError, match="no video stream"):
        load_video(audio_only)


def test_pack_unpack_and_pool():
    rng = np.random.default_rng(0)
    times = np.array([0.25, 0.75, 1.25], np.float32)
    vecs = rng.standard_normal((3, 5)).astype(np.float32)
    t, v = video.unpack(video.pack(times, vecs), 5)
    np.testing.assert_array_equal(t, times)
    np.testing.assert_array_equal(v, vecs)
    pooled = video.pool(vecs)
    np.testing.assert_allclose(pooled, vecs.mean(0) / np.linalg.norm(vecs.mean(0)), rtol=1e-6)
    with pytest.raises(MediaError, match="do not fit dimension"):
        video.unpack(np.zeros(7, np.float32), 5)


def test_frame_table_finds_each_rows_best_frame():
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((7, 4)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    table = FrameTable(np.array([0, 0, 0, 2, 2, 5, 5], np.int32), np.arange(7, dtype=np.float32), vecs)
    q = vecs[4] + 0.01
    for row in (0, 2, 5):
        times, rows = table.of(row)
        k = int(np.argmax(rows @ q))
        assert table.best(row, q) == pytest.approx((float(times[k]), float(rows[k] @ q)))
    assert table.best(1, q) is None and table.best(6, q) is None
    assert table.best(2, q)[0] == 4.0


def test_frame_at_returns_the_frame_shown_then(clips):
    expected = colour_frames(40)
    for t in (0.0, 1.3, 3.8):
        img = video.frame_at(clips["mp4"], t)
        want = expected[int(round(t * 10))].astype(np.float32).mean(axis=(0, 1))
        assert np.abs(np.asarray(img, np.float32).mean(axis=(0, 1)) - want).max() < 6


def _gif_with_screen(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    data[6:8], data[8:10] = w.to_bytes(2, "little"), h.to_bytes(2, "little")
    return bytes(data)
