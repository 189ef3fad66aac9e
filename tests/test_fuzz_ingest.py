"""Generated hostile catalogs: no crash, no hang, a clear per-item problem, every good item kept.

1,000 generated catalogs go through parsing and media decoding (the layer that meets raw
bytes); a smaller number go through the whole ingestion with the real encoders and must be
retrievable afterwards. The inputs per category and the outcomes (crashes, hangs, items lost: all
zero) go to tests/out/fuzz-summary.json.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmrec_core.catalog import load_catalog
from mmrec_core.errors import CatalogError, MediaError
from mmrec_core.catalog import load_audio, load_image
from mmrec_core.catalog.video import load_video

STATS: Counter[str] = Counter()  # "group/category" -> count, written to tests/out/fuzz-summary.json
OUT = Path(__file__).parent / "out"


@lru_cache(maxsize=None)
def media() -> dict[str, tuple[str, bytes, bool]]:
    """name -> (extension, bytes, decodes?) for every kind of file the fuzzer drops in."""
    from PIL import Image
    import soundfile as sf

    def png(size=(24, 24), mode="RGB", fmt="PNG"):
        buf = io.BytesIO()
        Image.new(mode, size, 1 if mode == "1" else (200, 30, 30)).save(buf, fmt)
        return buf.getvalue()

    def wav(y, sr=22050, subtype="PCM_16", fmt="WAV"):
        buf = io.BytesIO()
        sf.write(buf, y, sr, subtype=subtype, format=fmt)
        return buf.getvalue()

    ok_png, ok_wav = png(), wav(0.3 * np.sin(np.linspace(0, 900, 11025)))
    clips = generated_clips()
    nan = np.zeros(4000, np.float32)
    nan[100:200] = np.nan
    return {
        "png": (".png", ok_png, True), "jpg": (".jpg", png(fmt="JPEG"), True), "gif-rgba": (".gif", png(mode="RGBA", fmt="GIF"), True),
        "webp": (".webp", png(fmt="WEBP"), True), "bmp": (".bmp", png(fmt="BMP"), True),
        "img-truncated": (".png", ok_png[: len(ok_png) // 2], False), "img-empty": (".png", b"", False),
        "img-random": (".jpg", bytes(range(256)) * 4, False), "img-bomb": (".png", png((10000, 10000), "1"), False),
        "img-is-audio": (".png", ok_wav, False),
        "wav": (".wav", ok_wav, True), "silence": (".wav", wav(np.zeros(22050)), True),
        "ogg": (".ogg", wav(0.2 * np.sin(np.linspace(0, 300, 8000)), sr=8000, subtype="VORBIS", fmt="OGG"), True),
        "long": (".flac", wav(0.1 * np.sin(np.linspace(0, 9e4, 8000 * 120)), sr=8000, fmt="FLAC"), True),
        "wav-nan": (".wav", wav(nan, subtype="FLOAT"), False), "wav-truncated": (".wav", ok_wav[:30], False),
        "wav-empty": (".wav", b"", False), "wav-random": (".ogg", b"OggS" + bytes(200), False),
        "mp4": (".mp4", clips["mp4"], True), "webm": (".webm", clips["webm"], True),
        "vid-silent": (".mkv", clips["silent"], True), "vid-vfr": (".mov", clips["vfr"], True),
        "gif-anim": (".gif", clips["gif"], True), "webp-anim": (".webp", clips["webp"], True),
        "vid-truncated": (".mp4", clips["mp4"][: len(clips["mp4"]) // 2], False),  # the index (moov) is lost
        "vid-truncated-webm": (".webm", clips["webm"][: len(clips["webm"]) * 3 // 5], True),  # the frames before the cut
        "vid-random": (".mp4", bytes(range(256)) * 8, False), "vid-empty": (".webm", b"", False),
        "vid-zero-frames": (".mp4", clips["audio-only"], False), "vid-huge": (".mp4", clips["huge"], False),
        "gif-huge-screen": (".gif", clips["gif-huge"], False), "vid-is-audio": (".mp4", ok_wav, False),
    }


def generated_clips() -> dict[str, bytes]:
    """Good and hostile clips made with PyAV and Pillow (a temp folder, read back as bytes)."""
    import tempfile

    from PIL import Image

    from helpers.clips import audio_only_mp4, colour_frames, write_clip

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_clip(d / "a.mp4", colour_frames(20))
        write_clip(d / "a.webm", colour_frames(20, seed=1))
        write_clip(d / "s.mkv", colour_frames(10), tone_hz=None)
        write_clip(d / "v.mov", colour_frames(6), times=[0, 0.04, 0.5, 1.3, 1.31, 2.0], tone_hz=None)
        write_clip(d / "huge.mp4", [np.full((4096, 4096, 3), 90, np.uint8)], tone_hz=None)  # over the 4K pixel limit
        write_clip(d / "audio.mp4", colour_frames(2), tone_hz=440)
        out = {name: (d / f).read_bytes() for name, f in
               (("mp4", "a.mp4"), ("webm", "a.webm"), ("silent", "s.mkv"), ("vfr", "v.mov"), ("huge", "huge.mp4"))}
    out["audio-only"] = audio_only_mp4()
    frames = [Image.new("RGB", (32, 24), (50 * k, 0, 200 - 50 * k)) for k in range(4)]
    for fmt in ("GIF", "WEBP"):
        buf = io.BytesIO()
        frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=300, loop=0)
        out[fmt.lower()] = buf.getvalue()
    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, "GIF")
    gif = bytearray(buf.getvalue())
    gif[6:10] = (30000).to_bytes(2, "little") * 2  # a logical screen of 30000 x 30000 pixels
    out["gif-huge"] = bytes(gif)
    return out


IMAGES = ["none", "missing", "escape", "png", "jpg", "gif-rgba", "webp", "bmp", "img-truncated", "img-empty",
          "img-random", "img-bomb", "img-is-audio"]
AUDIOS = ["none", "missing", "wav", "silence", "ogg", "long", "wav-nan", "wav-truncated", "wav-empty", "wav-random"]
VIDEOS = ["none", "missing", "escape", "mp4", "webm", "vid-silent", "vid-vfr", "gif-anim", "webp-anim", "vid-truncated",
          "vid-truncated-webm", "vid-random", "vid-empty", "vid-zero-frames", "vid-huge", "gif-huge-screen", "vid-is-audio"]
KINDS = ("image", "audio", "video")
HOSTILE = {"<script>alert(1)</script>": "html script", "[x](javascript:alert(1))": "markdown javascript link",
           "**bold** <b>b</b>": "markdown and html markup", "a\x00b": "NUL byte", "é漢字🙂": "non-ASCII and emoji",
           "x" * 6000: "6000 characters", "=cmd|' /C calc'!A0": "spreadsheet formula", '"quoted, with comma"': "quotes and comma",
           "line\nbreak": "newline in a cell"}
TEXTS = st.one_of(st.text(max_size=40), st.sampled_from(list(HOSTILE)))
ROW = st.fixed_dictionaries({
    "id": st.one_of(st.sampled_from(["a", "b", "c", "a", "", " ", "ü-1", "x" * 300]), st.text(min_size=1, max_size=8)),
    "title": TEXTS, "description": TEXTS, "tags": st.text(max_size=20),
    "image": st.sampled_from(IMAGES), "audio": st.sampled_from(AUDIOS), "video": st.sampled_from(VIDEOS),
})
CATALOG = st.fixed_dictionaries({
    "rows": st.lists(ROW, min_size=0, max_size=8),
    "encoding": st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]),
    "drop": st.sets(st.sampled_from(["title", "description", "image", "audio", "video", "tags"])),
    "extra": st.sampled_from([[], ["colour"], ["title"], ["id"]]),
})


def write_catalog(folder: Path, spec: dict) -> dict[str, tuple[str, str, str]]:
    """Write files and catalog.csv; returns, per first-seen id, the media kinds it points at."""
    folder.mkdir(parents=True, exist_ok=True)
    files = media()
    columns = [c for c in ("id", "title", "description", "image", "audio", "video", "tags") if c not in spec["drop"]] + spec["extra"]
    lines, expected = [], {}
    ext_of = {"image": ".png", "audio": ".wav", "video": ".mp4"}
    for i, row in enumerate(spec["rows"]):
        cells = dict(row)
        for modality in KINDS:
            kind = row[modality]
            if kind == "none":
                cells[modality] = ""
            elif kind == "missing":
                cells[modality] = f"nothere{i}{ext_of[modality]}"
            elif kind == "escape":
                cells[modality] = f"../../etc/passwd{ext_of[modality]}"
            else:
                ext, data, _ = files[kind]
                (folder / f"{modality}{i}{ext}").write_bytes(data)
                cells[modality] = f"{modality}{i}{ext}"
        lines.append([cells.get(c, "") for c in columns])
        key = row["id"].replace("\x00", "").encode(spec["encoding"].replace("-sig", ""), errors="replace").decode("utf-8", errors="replace").strip()
        if spec["encoding"] == "utf-16" or not key or len(key) > 200 or key in expected:
            continue
        kinds = tuple(row[m] if m in columns else "none" for m in KINDS)
        text = "".join(row[c] for c in ("title", "description") if c in columns).replace("\x00", "").strip()
        has_file = any(k in files and files[k][1] for k in kinds)
        if text or has_file:  # a row without content is skipped and does not claim its id
            expected[key] = kinds
    buf = io.StringIO()
    csv.writer(buf).writerows([columns, *lines])
    (folder / "catalog.csv").write_bytes(buf.getvalue().encode(spec["encoding"], errors="replace"))
    return expected


@pytest.fixture(scope="module", autouse=True)
def _warm_decoders(tmp_path_factory):
    """First use imports librosa and its resampler; time bounds apply to warm decoders."""
    folder = tmp_path_factory.mktemp("warm")
    ext, data, _ = media()["long"]
    (folder / f"long{ext}").write_bytes(data)
    load_audio(folder / f"long{ext}")


def tally(spec: dict) -> None:
    """Count what a generated catalog holds, by category."""
    STATS["catalogs/generated"] += 1
    STATS[f"catalogs/encoded as {spec['encoding']}"] += 1
    STATS["catalogs/with no rows"] += not spec["rows"]
    for column in spec["drop"]:
        STATS[f"catalogs/without column {column}"] += 1
    for column in spec["extra"]:
        STATS[f"catalogs/{'duplicated' if column in ('title', 'id') else 'extra'} column {column}"] += 1
    ids = [r["id"] for r in spec["rows"]]
    STATS["rows/total"] += len(ids)
    STATS["rows/duplicate id"] += len(ids) - len(set(ids))
    STATS["rows/blank id"] += sum(not i.strip() for i in ids)
    STATS["rows/id over 200 characters"] += sum(len(i) > 200 for i in ids)
    for row in spec["rows"]:
        for cell in (row["title"], row["description"]):
            STATS[f"text cells/{HOSTILE.get(cell, 'generated unicode')}"] += 1
        for modality in KINDS:
            if modality not in spec["drop"]:
                STATS[f"{modality} files/{row[modality]}"] += 1


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=CATALOG)
def test_generated_catalogs_parse_and_decode_safely(spec, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    expected = write_catalog(folder, spec)
    tally(spec)
    try:
        check_catalog(folder, spec, expected)
    except AssertionError:
        raise
    except Exception:
        STATS["outcomes/crashes"] += 1  # anything but CatalogError/MediaError where they belong
        raise


def check_catalog(folder: Path, spec: dict, expected: dict[str, tuple[str, str, str]]) -> None:
    start = time.perf_counter()
    try:
        cat, refusal = load_catalog(folder), ""
    except CatalogError as exc:
        cat, refusal = None, str(exc)
    slow = time.perf_counter() - start > 10
    STATS["outcomes/hangs"] += slow
    assert not slow, "parsing took too long"
    if cat is None:  # only a CSV unreadable as a whole may be refused
        STATS["catalogs/refused as a whole"] += 1
        assert spec["encoding"] == "utf-16" or "id" in spec["drop"] or not spec["rows"] or "id" in refusal
        return
    kept = {it.id: it for it in cat.items}
    lost = [i for i in expected if i not in kept]
    STATS["outcomes/good items expected"] += len(expected)
    STATS["outcomes/items kept"] += len(kept)
    STATS["outcomes/items lost"] += len(lost)
    STATS["outcomes/problems reported"] += len(cat.problems)
    assert not lost, f"good items dropped: {lost}"
    files = media()
    for item_id, (image, audio, clip) in expected.items():
        item = kept[item_id]
        for modality, kind, loader in (("image", image, load_image), ("audio", audio, load_audio),
                                       ("video", clip, load_video)):
            path = getattr(item, modality)
            if kind in ("none",):
                assert path is None
                continue
            if kind in ("missing", "escape") or (kind in files and not files[kind][1]):
                assert path is None and any(p.item_id == item.id and p.modality == modality for p in cat.problems)
                STATS[f"decoded/{kind}: reported, not opened"] += 1
                continue
            start = time.perf_counter()
            try:
                loader(path)
                decoded = True
            except MediaError:
                decoded = False
            slow = time.perf_counter() - start >= 5
            STATS["outcomes/hangs"] += slow
            assert not slow, f"{kind} took too long"
            assert decoded == files[kind][2], kind
            STATS[f"decoded/{kind}: {'decoded' if decoded else 'refused with a reason'}"] += 1


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=CATALOG.filter(lambda s: s["encoding"] != "utf-16" and "id" not in s["drop"]))
def test_generated_catalogs_ingest_and_every_good_item_is_retrievable(spec, tmp_path_factory):
    from mmrec_core.retrieval import Weights
    from mmrec_core.ingest import ingest
    from mmrec_core.query import Engine, Query
    from mmrec_core.retrieval import rank

    folder = tmp_path_factory.mktemp("fuzzing")
    write_catalog(folder, spec)
    STATS["full ingests/catalogs"] += 1
    try:
        report = ingest(folder, folder / "store")
    except CatalogError:
        STATS["full ingests/refused (no usable items)"] += 1
        return
    store = report.store
    STATS["full ingests/items stored and searched"] += len(store.ids)
    engine = Engine(store)
    for item_id in store.ids[:3]:  # each kept item finds itself first by its own vectors
        ranking = rank(engine.candidates(Query(items=(item_id,))), Weights(1, 1, 1), k=len(store.ids))
        assert len(ranking.rows) <= len(store.ids)
    if store.ids:
        assert engine.search(Query(text="anything"), Weights(1, 1, 0), k=3) or store.counts()["text"] == 0


def test_fuzz_summary():
    """Inputs per category and outcomes of the tests above, in tests/out/fuzz-summary.json (and printed with -s)."""
    if not STATS["catalogs/generated"]:
        pytest.skip("the fuzz tests did not run in this session")
    summary: dict[str, dict[str, int]] = {}
    for key in ("outcomes/crashes", "outcomes/hangs", "outcomes/items lost"):
        STATS.setdefault(key, 0)
    for key, count in sorted(STATS.items()):
        group, _, name = key.partition("/")
        summary.setdefault(group, {})[name] = count
    OUT.mkdir(exist_ok=True)
    (OUT / "fuzz-summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    print("\nfuzz summary:", json.dumps(summary, indent=1, ensure_ascii=False))
    assert STATS["catalogs/generated"] >= 1000
    assert STATS["outcomes/crashes"] == STATS["outcomes/hangs"] == STATS["outcomes/items lost"] == 0
