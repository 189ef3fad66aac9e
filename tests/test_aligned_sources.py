"""The training harvest's guard against reserved images: a copy is found by content, a different picture is not."""

import sys

import numpy as np
from PIL import Image, ImageDraw

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from aligned_sources import COLOUR_DIFF, HASH_BITS, _hamming, _thumb, image_hash  # noqa: E402


def drawing(path, colour, shape, size=128, fmt="PNG"):
    img = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    d = ImageDraw.Draw(img)
    s = size / 128
    if shape == "disc":
        d.ellipse([20 * s, 20 * s, 108 * s, 108 * s], fill=colour)
    else:
        d.polygon([(64 * s, 10 * s), (118 * s, 118 * s), (10 * s, 118 * s)], fill=colour)
    img.convert("RGB" if fmt == "JPEG" else "RGBA").save(path, fmt)
    return str(path)


def test_a_rescaled_recompressed_copy_is_near_and_another_picture_is_far(tmp_path):
    original = drawing(tmp_path / "a.png", "crimson", "disc")
    copy = drawing(tmp_path / "b.jpg", "crimson", "disc", size=300, fmt="JPEG")
    other = drawing(tmp_path / "c.png", "crimson", "triangle")
    recoloured = drawing(tmp_path / "d.png", "navy", "disc")
    sha_a, code_a = image_hash(original)
    sha_b, code_b = image_hash(copy)
    assert sha_a != sha_b and image_hash(original) == (sha_a, code_a)  # deterministic, different files
    dist = _hamming([code_a], [code_b, image_hash(other)[1], image_hash(recoloured)[1]])[0]
    assert dist[0] <= HASH_BITS < dist[1]
    colour = lambda x, y: float(np.abs(_thumb(x) - _thumb(y)).mean())  # noqa: E731
    assert colour(original, copy) <= COLOUR_DIFF < colour(original, recoloured)


def test_a_harvest_without_its_renderer_or_without_pairs_stops_instead_of_writing_an_empty_source(tmp_path, monkeypatch):
    import aligned_sources as a
    import pytest

    monkeypatch.setattr(a.shutil, "which", lambda _: None)
    with pytest.raises(SystemExit, match="librsvg2-bin"):
        a.render_svg(tmp_path / "x.svg", tmp_path / "x.png")
    monkeypatch.setattr(a, "CACHE", tmp_path)
    monkeypatch.setitem(a.SOURCES, "empty", a.Source("empty", (), "", "train", lambda: iter(())))
    with pytest.raises(SystemExit, match="no pairs"):
        a.pairs("empty")
    assert not (tmp_path / "pairs" / "empty.jsonl").exists()
