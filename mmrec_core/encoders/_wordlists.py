"""The shipped word lists (data/lexicons/): languages read word by word, and the English list that tells them apart.

Spanish, German, French, Italian, Portuguese, Dutch, Swedish, Polish, Turkish, Catalan, Russian and Arabic: each
word looked up as it stands, then with its plural, inflection and verb endings tried off (and, in German, Dutch
and Swedish, a compound read as two words), for its first plain English sense. The lists are built from
Debian's FreeDict, Apertium and Mueller packages by scripts/build_lexicons.py (SOURCES.md beside them names each
one and its licence), as is an English word list with how common each word is (SCOWL's sizes), by which
`foreign_language` tells an ASCII text in Spanish ("perro", "cara sonriendo", "lobo") from an English one.
_lexicon glosses with them; each list is read once per process, on first use (the Latin-script ones together:
about 1.3 s).
"""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from pathlib import Path
from typing import Iterator

from mmrec_core.errors import EncoderUnavailable

LEXICONS = Path(__file__).resolve().parent / "data" / "lexicons"
WORDS = re.compile(r"[^\W\d_]+")
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
        for link in LINKS[lang]:
            stem = word[: i - len(link)]
            if word[:i].endswith(link) and len(stem) >= 3 and (first := _listed(lang, stem, accents)) is not None:
                if not {stem, word[i:]} <= english_words():  # not two English words (Schoolbus, codeblock)
                    return f"{first} {tail}"
    return None


def _listed(lang: str, word: str, accents: bool) -> str | None:
    """`word`'s sense in `lang` in one of its `forms`, as the list has it."""
    for words in (lexicon(lang), unaccented(lang)) if accents else (lexicon(lang),):
        for form in forms(lang, word):
            if form in words:
                return words[form]
    return None


def gloss_words(lang: str, text: str) -> str | None:
    """The gloss of a text's content words (not `lang`'s function words) in `lang`, a hyphenated word or a
    two-word name the list has read as one (guarda-chuva: umbrella, not "guard rain"; porte-monnaie: purse)."""
    return covered([(w, sense) for w, sense in read_words(lang, text) if w not in STOP[lang]])[1]


def read_words(lang: str, text: str) -> list[tuple[str, str | None]]:
    """A text's words in lower case with their senses in `lang` (or None), two of them joined where `lang`'s list
    has them joined by the hyphen or the space between them."""
    found = [(m.group(0).lower(), m.start(), m.end()) for m in WORDS.finditer(text)]
    out, i = [], 0
    while i < len(found):
        if i + 1 < len(found) and (gap := text[found[i][2]:found[i + 1][1]]) in ("-", " "):
            joined = found[i][0] + gap + found[i + 1][0]
            if (sense := _listed(lang, joined, True)) is not None:
                out.append((joined, sense))
                i += 2
                continue
        out.append((found[i][0], lookup(lang, found[i][0])))
        i += 1
    return out


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
        senses = {w: lookup(lang, w) for w in tokens}
        sides = [_side(lang, w, senses[w], all_english) for w in tokens]
        lead = sides.count(lang) - sides.count("en")
        exact = sum(1 for w in tokens if senses[w] is not None and lookup(lang, w, accents=False) is not None)
        if lead > 0 and (lead, exact) > score:
            best, score = lang, (lead, exact)
    return best


def covered(content: list[tuple[str, str | None]]) -> tuple[float, str | None]:
    """The share of the content words' letters the dictionary covers, and their senses (in order, each once)
    where that is at least half."""
    total = sum(len(w) for w, _ in content)
    if not total:
        return 0.0, None
    share = sum(len(w) for w, s in content if s) / total
    return share, " ".join(dict.fromkeys(s for _, s in content if s)) if share >= 0.5 else None
