import csv
import shutil

import numpy as np
import pytest

from mmrec_core.errors import QueryError
from mmrec_core.retrieval import Weights
from mmrec_core.ingest import ingest
from mmrec_core.query import Engine, Query
from mmrec_core.store import open_store


def test_report_keeps_good_items_and_names_problems(tiny_store):
    store = tiny_store.store
    assert store.ids == ["red", "blue", "green", "rain", "poem", "broken-img", "broken-snd", "missing"]
    assert store.counts() == {"text": 8, "image": 3, "audio": 3, "video": 0}
    problems = {(p.item_id, p.modality) for p in tiny_store.problems}
    assert {("red", "row"), ("missing", "image"), ("broken-img", "image"), ("broken-snd", "audio")} <= problems
    for m in store.embeddings:
        e = store.vectors(m, store.live_rows)
        norms = np.linalg.norm(e, axis=1)
        assert e.dtype == np.float32 and store.embeddings[m].dtype == np.float16  # float16 on disk
        assert np.allclose(norms[norms > 0], 1, atol=1e-3)
    assert (store.path / store.items[0]["image"]).is_file()


def test_reingest_costs_nothing_and_adding_items_costs_only_them(tiny_catalog, tmp_path):
    cat = tmp_path / "cat"
    shutil.copytree(tiny_catalog, cat)
    first = ingest(cat, tmp_path / "store")
    again = ingest(cat, tmp_path / "store")
    assert sum(again.encoded.values()) == 0 and again.cached["image"] == 3
    with open(cat / "catalog.csv", "a", newline="") as f:
        csv.writer(f).writerow(["new1", "Yellow kite", "a kite in the wind", "", "", "toys", ""])
        csv.writer(f).writerow(["new2", "Blue ball again", "", "img/blue-square.png", "", "toys", ""])
    more = ingest(cat, tmp_path / "store")
    assert more.encoded == {"text": 2, "image": 0, "audio": 0, "video": 0}
    assert len(more.store.ids) == len(first.store.ids) + 2
    assert open_store(tmp_path / "store").version == "v000003"


def test_queries_by_text_image_audio_and_items(tiny_store, tiny_catalog):
    engine = Engine(tiny_store.store)
    hits = engine.search(Query(text="a red ball"), Weights.from_alpha(0.5), k=3)
    assert hits[0].id == "red"
    for h in hits:
        assert sum(h.contributions.values()) == pytest.approx(h.score, abs=1e-5)
    by_image = engine.search(Query(image=tiny_catalog / "img" / "blue-square.png"), Weights(0, 1, 0), k=1)
    assert by_image[0].id == "blue"
    by_audio = engine.search(Query(audio=(tiny_catalog / "snd" / "tone-low.wav").read_bytes()), Weights(0, 0, 1), k=1)
    assert by_audio[0].id == "red" and by_audio[0].contributions["audio"] == pytest.approx(1.0, abs=1e-4)
    similar = engine.search(Query(items=("green",)), Weights(0, 1, 0), k=2)
    assert "green" not in [h.id for h in similar]
    with pytest.raises(QueryError, match="query image: cannot decode"):
        engine.search(Query(image=b"not an image"), Weights())
    with pytest.raises(QueryError, match="empty"):
        engine.search(Query(), Weights())


def test_a_catalog_without_usable_items_is_refused_and_nothing_written(tmp_path):
    from mmrec_core.errors import CatalogError

    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "catalog.csv").write_text("id,title,image\n,no id,\nx,,missing.png\n")
    with pytest.raises(CatalogError, match="no usable items"):
        ingest(tmp_path / "cat", tmp_path / "store")
    assert not (tmp_path / "store" / "CURRENT").exists()
