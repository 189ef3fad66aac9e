"""Why below the modality: which words, which image region, which seconds of a clip carry a match.

Each explanation re-encodes small variations of one input and measures how the cosine with the
query changes (perturbation, no gradients, so it works with every encoder behind the protocol):
- text: leave one word out of the query, and of the item's text; a word's weight is how much the
  text similarity drops without it (negative: the match is better without the word);
- image: occlude one cell of a grid at a time with the image's background colour; a cell's weight is
  the drop of the image similarity (the map is drawn over the thumbnail by `overlay`);
- audio: the similarity of each window of the clip (length `window`, step `hop`) with the query.
Pure functions of (encoder, input, query vector); the app caches them per (query, item).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    from mmrec_core.query import Engine
    from mmrec_core.retrieval import QueryVectors

# A word, or one character of a script written without spaces (Thai; Chinese and Japanese where no dictionary cuts
# them into words, see words_of): leaving one out is how "Why" weighs it
UNSPACED = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD = re.compile(rf"[{UNSPACED}]|[^\W{UNSPACED}][\w'-]*", re.UNICODE)
UNSPACED_WORD = re.compile(f"[{UNSPACED}々ー]+")
MAX_WORDS = 40  # words of an item's text that are explained (the rest keep their place, unscored)


@dataclass(frozen=True)
class WordWeights:
    """Words in order with their weights (drop of the similarity without them); base is the full similarity."""

    words: tuple[str, ...]
    weights: tuple[float, ...]
    base: float

    def separator(self, i: int) -> str:
        """What goes before word i as typed: nothing between two Chinese or Japanese words, else a space."""
        return separator(self.words[i - 1], self.words[i]) if i else ""

    def top(self, n: int = 5) -> list[tuple[str, float]]:
        """The n words that help most (positive weights only), best first."""
        pairs = sorted(((w, v) for w, v in zip(self.words, self.weights) if v > 0), key=lambda p: -p[1])
        return pairs[:n]


@dataclass(frozen=True)
class ImageMap:
    """Occlusion map (rows, cols) float32: how much hiding each cell lowers the similarity; base is the full one."""

    heat: np.ndarray
    base: float
    picture: Any = field(default=None, repr=False, compare=False)  # the RGB PIL image the map is of (for `overlay`)


@dataclass(frozen=True)
class AudioWindows:
    """Window start times (w,) seconds, their similarity with the query (w,), and the window length."""

    starts: np.ndarray
    scores: np.ndarray
    window: float


def words_of(text: str) -> list[str]:
    """The words "Why" weighs: a Chinese or Japanese text's dictionary words (ペンギンの絵: ペンギン, の, 絵), or
    its characters where no dictionary is installed; a space-separated text's words."""
    from mmrec_core.encoders import text_words

    cut = text_words(text or "")
    return cut if cut else WORD.findall(text or "")


def separator(before: str, word: str) -> str:
    return "" if UNSPACED_WORD.fullmatch(before) and UNSPACED_WORD.fullmatch(word) else " "


def joined(words: Sequence[str]) -> str:
    """Words back into a text: Chinese and Japanese words follow each other without a space, as typed."""
    return "".join((separator(words[i - 1], w) if i else "") + w for i, w in enumerate(words))


def explain_text(encode: Callable[[list[str]], np.ndarray], text: str, other: np.ndarray, *,
                 max_words: int = MAX_WORDS) -> WordWeights:
    """Leave-one-word-out weights of `text` against the unit vector `other` (d,) in the text encoder's space."""
    words = words_of(text)
    scored = words[:max_words]
    if not scored:
        return WordWeights((), (), 0.0)
    variants = [joined(words)] + [joined(words[:i] + words[i + 1:]) for i in range(len(scored))]
    vecs = encode(variants)
    sims = vecs @ np.asarray(other, np.float32)
    base = float(sims[0])
    weights = [float(base - s) for s in sims[1:]] + [0.0] * (len(words) - len(scored))
    return WordWeights(tuple(words), tuple(weights), base)


def explain_image(encode: Callable[[list[Any]], np.ndarray], image: Any, query: np.ndarray, *,
                  grid: int = 4) -> ImageMap:
    """Occlusion map of a PIL image against the image-space query (d,): grid x grid cells, one encoder call."""
    from PIL import ImageDraw

    img = image.convert("RGB")
    w, h = img.size
    fill = tuple(int(c) for c in np.median(np.asarray(img).reshape(-1, 3), axis=0))  # the background, usually
    variants = [img]
    for r in range(grid):
        for c in range(grid):
            v = img.copy()
            ImageDraw.Draw(v).rectangle((c * w // grid, r * h // grid, (c + 1) * w // grid - 1, (r + 1) * h // grid - 1),
                                        fill=fill)
            variants.append(v)
    sims = encode(variants) @ np.asarray(query, np.float32)
    return ImageMap((sims[0] - sims[1:]).reshape(grid, grid).astype(np.float32), float(sims[0]), img)


def overlay(image: Any, heat: np.ndarray, *, size: int = 256, full: float = 0.0) -> Any:
    """The image fitted in a size x size tile with the positive part of `heat` drawn over it in red.

    Full red is a drop of max(the largest drop, `full`): pass a share of the base similarity so that a map
    whose cells all matter little stays faint instead of being stretched to full colour.
    """
    from PIL import Image, ImageOps

    img = ImageOps.contain(image.convert("RGB"), (size, size))  # small pictures are enlarged to fill the tile
    pos = np.clip(np.asarray(heat, np.float32), 0, None)
    peak = max(float(pos.max()), full)
    mask = np.clip(pos / peak if peak > 0 else pos, 0, 1) * 255
    alpha = Image.fromarray(mask.astype(np.uint8), mode="L").resize(img.size, Image.BILINEAR)
    red = Image.new("RGB", img.size, (220, 30, 30))
    shown = Image.composite(red, img, alpha.point(lambda a: int(a * 0.55)))
    tile = Image.new("RGB", (size, size), "white")
    tile.paste(shown, ((size - img.width) // 2, (size - img.height) // 2))
    return tile


def explain_audio(embed: Callable[[Sequence[np.ndarray]], np.ndarray], wave: np.ndarray, sr: int, query: np.ndarray, *,
                  window: float = 1.0, hop: float = 0.5) -> AudioWindows:
    """Cosine of each window of `wave` (embedded like a whole clip) with the audio query (d,)."""
    n, step = max(1, int(window * sr)), max(1, int(hop * sr))
    starts = list(range(0, max(1, len(wave) - n + 1), step)) or [0]
    pieces = [wave[s : s + n] for s in starts]
    sims = embed(pieces) @ np.asarray(query, np.float32)
    return AudioWindows(np.array(starts, np.float32) / sr, sims.astype(np.float32), window)


@dataclass(frozen=True)
class Explanation:
    """What carries one item's match with one query, per modality; None where there is nothing to explain."""

    query_words: WordWeights | None = None
    item_words: WordWeights | None = None
    image: ImageMap | None = None
    image_source: str = ""  # "image", or "frame at 0:03.5" for a video item
    audio: AudioWindows | None = None
    seconds: float = 0.0


def explain_item(engine: "Engine", query_text: str, query: "QueryVectors", row: int,
                 progress: Callable[[str], None] | None = None) -> Explanation:
    """Every explanation that applies to store row `row` for a query (its text and its vectors)."""
    import time

    from mmrec_core.catalog import load_audio, load_image, video
    from mmrec_core.errors import MediaError

    start, say = time.perf_counter(), progress or (lambda stage: None)
    store, enc = engine.store, engine.encoders
    item = store.items[row]
    text_vec = store.vectors("text", [row])[0]
    out: dict[str, Any] = {}
    if query_text.strip() and query.text is not None and text_vec.any():
        say("words")
        out["query_words"] = explain_text(enc.text.encode, query_text, text_vec)
        item_text = ". ".join(p for p in ((item.get("title") or "").strip(), (item.get("description") or "").strip()) if p)
        out["item_words"] = explain_text(enc.text.encode, item_text, query.text)
    probe = query.image_space
    still, clip = store.media_path(item.get("image")), store.media_path(item.get("video"))
    if probe is not None and (still is not None or clip is not None):
        say("image regions")
        try:
            if still is not None:
                picture, source = load_image(still), "image"
            else:
                best = store.frames.best(row, probe)
                at = best[0] if best else 0.0
                picture, source = video.frame_at(clip, at), f"frame at {video.clock(at)}"
            out["image"], out["image_source"] = explain_image(enc.image.encode, picture, probe), source
        except MediaError:
            pass
    sound = store.media_path(item.get("audio"))
    if query.audio is not None and (sound is not None or clip is not None):
        say("audio windows")
        try:
            sr = enc.audio.sample_rate
            wave = load_audio(sound, sr=sr) if sound is not None else video.load_soundtrack(clip, sr=sr)
            out["audio"] = explain_audio(lambda ws: store.scaler.apply(enc.audio.features(list(ws))), wave, sr, query.audio)
        except MediaError:
            pass
    return Explanation(**out, seconds=time.perf_counter() - start)
