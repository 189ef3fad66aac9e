"""Shared fixtures: a seeded tiny catalog on disk (real PNG/WAV files, some broken) and helpers."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assets" / "demo"


def write_tiny_catalog(folder: Path, *, seed: int = 0) -> Path:
    """Eight items: colour images, tones and noise, plus the broken cases ingestion must survive."""
    from PIL import Image, ImageDraw
    import soundfile as sf

    rng = np.random.default_rng(seed)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    (folder / "snd").mkdir(exist_ok=True)
    shapes = {"red-circle": ("red", "ellipse"), "blue-square": ("blue", "rectangle"), "green-circle": ("green", "ellipse")}
    for name, (colour, shape) in shapes.items():
        im = Image.new("RGB", (96, 96), "white")
        getattr(ImageDraw.Draw(im), shape)((16, 16, 80, 80), fill=colour)
        im.save(folder / "img" / f"{name}.png")
    sr = 22050
    t = np.arange(sr) / sr
    sf.write(folder / "snd" / "tone-low.wav", 0.5 * np.sin(2 * np.pi * 220 * t), sr)
    sf.write(folder / "snd" / "tone-high.wav", 0.5 * np.sin(2 * np.pi * 1760 * t), sr)
    sf.write(folder / "snd" / "noise.ogg", 0.3 * rng.standard_normal(sr), sr)
    (folder / "img" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    (folder / "snd" / "corrupt.wav").write_bytes(b"RIFF" + os.urandom(64))
    rows = [
        ("red", "Red ball", "a round red ball", "img/red-circle.png", "snd/tone-low.wav", "toys;round"),
        ("blue", "Blue box", "a blue square box", "img/blue-square.png", "", "toys;square"),
        ("green", "Green ball", "a round green ball", "img/green-circle.png", "snd/tone-high.wav", "toys;round"),
        ("rain", "Rain", "the sound of rain falling", "", "snd/noise.ogg", "weather"),
        ("poem", "A poem", "words about the sea and the sky", "", "", "text"),
        ("broken-img", "Broken picture", "this image file is corrupt", "img/corrupt.png", "", "broken"),
        ("broken-snd", "Broken sound", "", "", "snd/corrupt.wav", "broken"),
        ("missing", "Missing file", "points at nothing", "img/nope.png", "", "broken"),
        ("red", "Duplicate red", "same id again", "", "", "broken"),
    ]
    with open(folder / "catalog.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "description", "image", "audio", "tags", "colour"])
        for r in rows:
            w.writerow([*r, r[0]])
    return folder


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_catalog(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests write embeddings to their own cache, never the user's; the bridge prompt matrix is reused."""
    os.environ.setdefault("MMREC_CACHE_DIR", str(Path.home() / ".cache" / "mmrec"))
    os.environ["MMREC_EMBED_CACHE"] = str(tmp_path_factory.mktemp("cache") / "embeddings.sqlite")


@pytest.fixture(scope="session")
def tiny_store(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny catalog ingested with the real offline encoders (models load once per session)."""
    from mmrec_core.ingest import ingest

    return ingest(tiny_catalog, tmp_path_factory.mktemp("stores") / "tiny")
