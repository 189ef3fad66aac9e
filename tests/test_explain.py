"""Explanations below the modality: a planted match lights up where it was planted (words, image cells, seconds)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import DEMO
from mmrec_core.insight import _explain as explain
from mmrec_core.vectors import l2_normalize


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A deterministic text encoder: hashed word counts, L2-normalised."""
    out = np.zeros((len(texts), 64), np.float32)
    for i, t in enumerate(texts):
        for w in explain.words_of(t.lower()):
            out[i, zlib.crc32(w.encode()) % 64] += 1
    return l2_normalize(out)


def redness(images: list) -> np.ndarray:
    """A deterministic image encoder: how red each cell of a 5 x 5 grid is (plus a constant), L2-normalised."""
    rows = []
    for img in images:
        a = np.asarray(img.convert("RGB").resize((50, 50)), np.float32) / 255
        red = (a[..., 0] - (a[..., 1] + a[..., 2]) / 2).clip(0)
        rows.append(np.r_[red.reshape(5, 10, 5, 10).mean(axis=(1, 3)).ravel(), 0.05])
    return l2_normalize(np.array(rows, np.float32))


def test_the_shared_word_carries_the_text_match():
    item = bag_of_words(["a red ball"])[0]
    result = explain.explain_text(bag_of_words, "the big red kite", item)
    weights = dict(zip(result.words, result.weights))
    assert max(weights, key=weights.get) == "red" and weights["red"] > 0.2
    assert all(weights[w] <= 1e-6 for w in ("the", "big", "kite"))  # words the item lacks only dilute the match
    assert result.top(1) == [("red", pytest.approx(weights["red"]))]
    assert explain.explain_text(bag_of_words, "", item).words == ()


def test_an_occluded_planted_square_is_the_hottest_cell():
    img = Image.new("RGB", (200, 200), "white")
    ImageDraw.Draw(img).rectangle((125, 45, 170, 75), fill=(230, 20, 20))  # row 1, column 3 of a 5 x 5 grid
    query = redness([img])[0]
    result = explain.explain_image(redness, img, query, grid=5)
    assert result.heat.shape == (5, 5)
    assert np.unravel_index(np.argmax(result.heat), result.heat.shape) == (1, 3)
    assert result.heat[1, 3] > 0.3 and np.abs(np.delete(result.heat.ravel(), 8)).max() < 0.05
    tile = np.asarray(explain.overlay(img, result.heat), np.float32)
    assert tile.shape == (256, 256, 3)
    assert tile[90:110, 40:60].mean() > 250  # far from the square: untouched white


def test_a_planted_tone_is_the_window_that_matches():
    sr = 8000
    rng = np.random.default_rng(0)
    wave = 0.05 * rng.standard_normal(6 * sr).astype(np.float32)
    t = np.arange(sr) / sr
    wave[3 * sr : 4 * sr] += 0.5 * np.sin(2 * np.pi * 1000 * t).astype(np.float32)

    def embed(pieces):
        out = []
        for p in pieces:
            spec = np.abs(np.fft.rfft(p)) ** 2
            freqs = np.fft.rfftfreq(p.size, 1 / sr)
            near = spec[(freqs > 900) & (freqs < 1100)].sum()
            out.append([near, spec.sum() - near])
        return l2_normalize(np.array(out, np.float32))

    result = explain.explain_audio(embed, wave, sr, np.array([1.0, 0.0], np.float32), window=1.0, hop=0.5)
    assert result.starts[int(np.argmax(result.scores))] == pytest.approx(3.0)
    assert result.scores.max() > 0.9 and np.median(result.scores) < 0.2
    assert len(result.starts) == 11  # windows of 1 s every 0.5 s over 6 s


def test_real_encoders_find_the_frog_in_its_corner_and_explain_every_modality(tiny_store, tmp_path):
    from mmrec_core.query import Engine, Query

    engine = Engine(tiny_store.store)
    frog = DEMO / "images" / "animals-amphibians-frog.webp"
    canvas = Image.new("RGB", (400, 400), "white")
    stamp = Image.open(frog).convert("RGBA")
    stamp.thumbnail((160, 160))
    canvas.paste(stamp, (0, 0), stamp)  # the frog fills the top-left cells of a 5 x 5 grid
    query = engine.vectors(Query(text="a frog"))
    result = explain.explain_image(engine.encoders.image.encode, canvas, query.image)
    hot = np.unravel_index(np.argmax(result.heat), result.heat.shape)
    assert hot[0] <= 1 and hot[1] <= 1, result.heat.round(3)

    store = tiny_store.store
    red = store.row_of("red")
    ex = explain.explain_item(engine, "a round red ball", engine.vectors(Query(text="a round red ball")), red)
    assert ex.query_words.words == ("a", "round", "red", "ball") and ex.item_words is not None
    assert ex.image is not None and ex.image_source == "image" and ex.audio is None  # a text query: no audio to explain
    sound = engine.vectors(Query(audio=store.media_path(store.items[red]["audio"])))
    ex = explain.explain_item(engine, "", sound, red)
    assert ex.audio is not None and ex.query_words is None and len(ex.audio.starts) >= 1


def test_chinese_and_japanese_are_weighed_by_dictionary_word_and_rejoined_as_typed():
    """ペンギン is one word, not four kana; the variants left out read as typed (no spaces between CJK words)."""
    assert explain.words_of("ペンギンの絵") == ["ペンギン", "の", "絵"]
    assert explain.words_of("SOS按钮") == ["SOS", "按钮"]
    seen: list[str] = []

    def record(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return bag_of_words(texts)

    result = explain.explain_text(record, "ペンギンの絵", bag_of_words(["ペンギン"])[0])
    assert seen == ["ペンギンの絵", "の絵", "ペンギン絵", "ペンギンの"]
    assert max(zip(result.weights, result.words))[1] == "ペンギン"
    assert [result.separator(i) for i in range(3)] == ["", "", ""]
    english = explain.explain_text(bag_of_words, "red SOS按钮", bag_of_words(["red"])[0])
    assert english.words == ("red", "SOS", "按钮") and [english.separator(i) for i in range(3)] == ["", " ", " "]
