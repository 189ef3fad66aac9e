"""The demo catalog with the real offline encoders: shipped embeddings match a fresh encode, and retrieval is real."""

import csv
import random
import shutil

import numpy as np
import pytest

from conftest import DEMO
from mmrec_core.ingest import content_key, load_seed
from mmrec_core.catalog import load_catalog
from mmrec_core.encoders import get_encoders
from mmrec_core.ingest import SEED_FILE, ingest
from mmrec_core.catalog import load_audio, load_image

SEED = DEMO / SEED_FILE


@pytest.fixture(scope="module")
def demo_items():
    return load_catalog(DEMO).items


@pytest.mark.skipif(not SEED.is_file(), reason="the demo embedding seed is built by scripts/build_demo_embeddings.py")
@pytest.mark.parametrize("encoder", ["aligned+aisfx", "bridge"])
def test_shipped_seed_matches_a_fresh_encode(demo_items, encoder):
    enc = get_encoders(encoder)
    seed = load_seed(SEED)
    sample = random.Random(0).sample([it for it in demo_items if it.image], 6)
    fresh = enc.image.encode([load_image(it.image) for it in sample])
    for it, vec in zip(sample, fresh):
        shipped = seed[(enc.image.name, content_key(it.image.read_bytes()))]
        assert float(vec @ shipped) / np.linalg.norm(shipped) > 0.999
    texts = enc.text.encode([it.text for it in sample])
    for it, vec in zip(sample, texts):
        shipped = seed[(enc.text.name, content_key(it.text))]
        assert float(vec @ shipped) / np.linalg.norm(shipped) > 0.999
    with_audio = [it for it in demo_items if it.audio][:2]
    raw = enc.audio.features([load_audio(it.audio, sr=enc.audio.sample_rate) for it in with_audio])
    for it, vec in zip(with_audio, raw):
        np.testing.assert_allclose(vec, seed[(enc.audio.name, content_key(it.audio.read_bytes()))], rtol=2e-2, atol=2e-2)


def test_caption_finds_its_image_on_a_demo_subset(demo_items, tmp_path):
    """Known caption -> image matches among 40 demo stamps, images only (alpha = 1)."""
    from mmrec_core.retrieval import Weights
    from mmrec_core.query import Engine, Query

    picked = [it for it in demo_items if it.image][::24][:40]
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "images").mkdir()
    for it in picked:
        shutil.copy(it.image, sub / "images" / it.image.name)
    with open(DEMO / "catalog.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keep = {it.id for it in picked}
    with open(sub / "catalog.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(r for r in rows if r["id"] in keep)
    engine = Engine(ingest(sub, tmp_path / "store").store)
    hits_at_5 = 0
    for it in picked:
        ranked = [h.id for h in engine.search(Query(text=it.description or it.title), Weights(0, 1, 0), k=5)]
        hits_at_5 += it.id in ranked
    # chance is 5/40 = 12.5%; the default encoder must do clearly better on real stamps
    assert hits_at_5 / len(picked) >= 0.3
