"""Video items end to end with the real offline encoders: ingest, the store's frames, search by text and by clip.

The clips are made of demo stamps (a frog, a tiger), so the text encoder's words and the frames' pictures agree.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import DEMO
from helpers.clips import write_clip
from mmrec_core.catalog import video as video
from mmrec_core.retrieval import Weights
from mmrec_core.catalog import load_image
from mmrec_core.query import Engine, Query
from mmrec_core.vectors import l2_normalize

IMAGE_ONLY = Weights(0.0, 1.0, 0.0)


def stamp(title: str) -> Image.Image:
    with open(DEMO / "catalog.csv", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["title"] == title)
    return load_image(DEMO / row["image"]).resize((96, 96))


def frames_of(img: Image.Image, n: int) -> list[np.ndarray]:
    return [np.asarray(img.rotate(a, fillcolor="white")) for a in np.linspace(-8, 8, n)]


@pytest.fixture(scope="module")
def video_catalog(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("videos")
    frog, tiger, pelican = stamp("Frog"), stamp("Tiger"), stamp("Pelican")
    write_clip(d / "frog.mp4", frames_of(frog, 30), tone_hz=330)
    write_clip(d / "tiger.webm", frames_of(tiger, 30), tone_hz=None)  # silent
    write_clip(d / "both.mp4", frames_of(tiger, 30) + frames_of(frog, 30), tone_hz=550)  # tiger, then frog
    write_clip(d / "pelican.mkv", frames_of(pelican, 20), tone_hz=880)
    pelican.save(d / "pelican.png")
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(600))
    rows = [
        ("frog", "", "", "", "frog.mp4"),
        ("tiger", "", "", "", "tiger.webm"),
        ("both", "", "", "", "both.mp4"),
        ("pelican", "Bird", "pelican.png", "", "pelican.mkv"),  # a still image and a video
        ("broken", "A broken clip", "", "", "corrupt.mp4"),  # kept by its text
        ("broken-only", "", "", "", "corrupt.mp4"),  # nothing left: skipped
    ]
    with open(d / "catalog.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "image", "audio", "video"])
        w.writerows(rows)
    return d


@pytest.fixture(scope="module")
def report(video_catalog, tmp_path_factory):
    from mmrec_core.ingest import ingest

    return ingest(video_catalog, tmp_path_factory.mktemp("vstores") / "videos")


def test_ingest_keeps_clips_and_reports_what_failed(report):
    store = report.store
    assert store.ids == ["frog", "tiger", "both", "pelican", "broken"]
    assert store.counts() == {"text": 2, "image": 4, "audio": 3, "video": 4}
    problems = {(p.item_id, p.modality) for p in report.problems}
    assert {("broken", "video"), ("broken-only", "item"), ("tiger", "audio")} <= problems
    assert any("no soundtrack" in p.reason for p in report.problems if p.item_id == "tiger")
    assert report.encoded["video"] == 4 and store.manifest["frames"] == len(store.frames)
    for row in range(4):
        times, vecs = store.frames.of(row)
        assert 1 <= len(times) <= 16 and np.all(np.diff(times) > 0)
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert 4 <= len(store.frames.of(3)[0]) <= 5 and 12 <= len(store.frames.of(2)[0]) <= 13  # 2 s and 6 s, one per 0.5 s
    assert store.items[0]["video"].startswith("media/") and store.media_path(store.items[0]["video"]).is_file()
    assert store.items[0]["audio"] is None  # the soundtrack plays with the video


def test_image_vector_is_the_pooled_frames_plus_a_still(report):
    store = report.store
    for row in (0, 1, 2):
        np.testing.assert_allclose(store.vectors("image", [row])[0], video.pool(store.frames.of(row)[1]), atol=1e-3)
    engine = Engine(store)
    still = engine.encoders.image.encode([load_image(store.media_path(store.items[3]["image"]))])[0]
    want = l2_normalize((still + video.pool(store.frames.of(3)[1]))[None, :])[0]
    np.testing.assert_allclose(store.vectors("image", [3])[0], want, atol=1e-3)


def test_text_finds_videos_through_their_frames_and_names_the_best_frame(report):
    engine = Engine(report.store)
    frames = report.store.frames
    for text, first, half in (("a frog", {"frog", "both"}, "late"), ("a tiger", {"tiger", "both"}, "early")):
        hits = engine.search(Query(text=text), IMAGE_ONLY, k=5)
        assert {h.id for h in hits[:2]} == first
        qv = engine.vectors(Query(text=text))
        for h in hits:
            times, vecs = frames.of(report.store.row_of(h.id))
            k = int(np.argmax(vecs @ qv.image))
            assert h.frame.time == pytest.approx(float(times[k])) and h.frame.similarity == pytest.approx(float(vecs[k] @ qv.image), abs=1e-5)
        both = next(h for h in hits if h.id == "both")
        assert (both.frame.time > 3.0) if half == "late" else (both.frame.time < 3.0)  # tiger for 3 s, then frog


def test_a_clip_queries_frames_against_images_and_its_soundtrack_against_audio(report, video_catalog):
    engine = Engine(report.store)
    qv = engine.vectors(Query(video=video_catalog / "frog.mp4"))
    assert qv.image is not None and qv.audio is not None
    np.testing.assert_allclose(qv.audio, report.store.embeddings["audio"][0], atol=1e-4)  # same clip, same soundtrack
    hits = engine.search(Query(video=(video_catalog / "frog.mp4").read_bytes()), Weights(0, 1, 1), k=3)
    assert hits[0].id == "frog" and hits[0].frame is not None
    silent = engine.vectors(Query(video=video_catalog / "tiger.webm"))
    assert silent.audio is None and silent.image is not None
    with pytest.raises(Exception, match="query video: cannot open video"):
        engine.vectors(Query(video=video_catalog / "corrupt.mp4"))


def test_reingest_takes_every_clip_from_the_cache(report, video_catalog):
    from mmrec_core.ingest import ingest

    again = ingest(video_catalog, report.store.path)
    assert again.encoded["video"] == 0 and again.cached["video"] == 4
    np.testing.assert_array_equal(again.store.frames.vectors, report.store.frames.vectors)
    np.testing.assert_array_equal(again.store.embeddings["image"], report.store.embeddings["image"])


def test_cli_search_by_video_and_a_queries_csv_with_a_video_column(report, video_catalog, tmp_path):
    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "mmrec_core", *map(str, args)], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        return out.stdout

    line = json.loads(cli("search", "--store", report.store.path, "--video", video_catalog / "both.mp4",
                          "--weights", "text=0,image=1,audio=0", "-k", "2", "--json"))
    assert line["results"][0]["id"] == "both" and "time" in line["results"][0]["frame"]
    queries = tmp_path / "q.csv"
    queries.write_text(f"query_id,text,video\nq1,,{video_catalog / 'tiger.webm'}\nq2,a frog,\n")
    lines = [json.loads(x) for x in cli("search", "--store", report.store.path, "--queries", queries,
                                        "--alpha", "1", "-k", "1", "--json").splitlines()]
    assert [x["results"][0]["id"] for x in lines] in (["tiger", "frog"], ["tiger", "both"])
    assert "frame 0:0" in cli("search", "--store", report.store.path, "--text", "a frog", "--alpha", "1", "-k", "1")
