import json

import numpy as np
import pytest

from mmrec_core.encoders.librosa_audio import AudioScaler
from mmrec_core.errors import StoreError
from mmrec_core.retrieval import IndexConfig
from mmrec_core.store import list_stores, open_store, write_store
from mmrec_core.vectors import l2_normalize


def make(tmp_path, n=30, *, config=IndexConfig(), seed=0):
    rng = np.random.default_rng(seed)
    emb = {m: l2_normalize(rng.standard_normal((n, d))) for m, d in (("text", 8), ("image", 8), ("audio", 4))}
    emb["audio"][::2] = 0
    items = [{"id": f"i{i}", "title": f"item {i}", "tags": []} for i in range(n)]
    scaler = AudioScaler(np.zeros(4, np.float32), np.ones(4, np.float32))
    return write_store(tmp_path / "s", items=items, embeddings=emb, scaler=scaler,
                       encoder={"name": "test", "spec": "bridge"}, index_config=config), emb


def test_write_reopen_roundtrip(tmp_path):
    store, emb = make(tmp_path)
    again = open_store(tmp_path / "s")
    assert again.version == "v000001" and again.ids[3] == "i3" and again.row_of("i7") == 7
    for m in emb:
        assert again.embeddings[m].dtype == np.float16  # float16 on disk, float32 through vectors()
        np.testing.assert_allclose(again.vectors(m, range(30)), emb[m], atol=1e-3)
    assert again.counts() == {"text": 30, "image": 30, "audio": 15, "video": 0}
    assert list_stores(tmp_path) == [tmp_path / "s"]
    with pytest.raises(StoreError, match="no item with id 'zz'"):
        again.row_of("zz")


def test_new_version_is_atomic_and_old_pruned(tmp_path):
    for seed in range(5):
        store, _ = make(tmp_path, seed=seed)
    assert store.version == "v000005"
    versions = sorted(p.name for p in (tmp_path / "s" / "versions").iterdir())
    assert versions == ["v000003", "v000004", "v000005"]


def test_ann_index_saved_and_reloaded(tmp_path):
    store, emb = make(tmp_path, n=400, config=IndexConfig(flat_max=100))
    assert (store.version_dir / "index_text.faiss").is_file()
    again = open_store(tmp_path / "s")
    assert again.retriever.kinds["text"] == "ivfpq" and "text" in again.retriever.ann


def test_tampered_or_missing_store_refused(tmp_path):
    with pytest.raises(StoreError, match="not an mmrec store"):
        open_store(tmp_path / "nothing")
    store, _ = make(tmp_path)
    gen = tmp_path / "s" / "data" / store.manifest["data"]
    with open(gen / "text.f16", "r+b") as f:
        f.truncate(29 * 8 * 2)
    with pytest.raises(StoreError, match=r"text.f16 holds 464 bytes, the store version needs 480"):
        open_store(tmp_path / "s")
    manifest = json.loads((store.version_dir / "manifest.json").read_text())
    manifest["format_version"] = 99
    (store.version_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="unsupported format"):
        open_store(tmp_path / "s")
    (tmp_path / "s" / "CURRENT").write_text("v999999")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "s")


def test_stale_upload_folders_are_swept_and_fresh_ones_kept(tmp_path):
    import os

    from mmrec_core.store import sweep_stale_uploads

    old = [tmp_path / ".upload-a", tmp_path / "shop" / ".upload-b"]
    fresh = tmp_path / "shop" / ".upload-c"
    keep = tmp_path / "shop" / "versions"
    for d in [*old, fresh, keep]:
        d.mkdir(parents=True)
        (d / "f").write_text("x")
    for d in [*old, keep]:
        os.utime(d, (1_000, 1_000))
    removed = sweep_stale_uploads(tmp_path, max_age=3600, now=10_000)
    assert sorted(removed) == sorted(old) and not any(d.exists() for d in old)
    assert fresh.is_dir() and keep.is_dir()
    assert sweep_stale_uploads(tmp_path / "missing") == []


def test_float16_rescoring_stays_within_1e3_of_float32_and_contributions_sum(tmp_path):
    from mmrec_core.retrieval import Weights, list_strategies
    from mmrec_core.retrieval import QueryVectors, Retriever, rank

    rng = np.random.default_rng(5)
    n, d = 2000, 768
    emb = {m: l2_normalize(rng.standard_normal((n, dim)) + 3 * rng.standard_normal(dim))
           for m, dim in (("text", d), ("image", d), ("audio", 64))}
    items = [{"id": f"i{i}"} for i in range(n)]
    store = write_store(tmp_path / "s", items=items, embeddings=emb, scaler=AudioScaler(np.zeros(64), np.ones(64)),
                        encoder={"name": "t"}, index_config=IndexConfig(flat_max=500))
    exact = Retriever(emb, config=IndexConfig(kind="flat"))
    for i in range(5):
        qv = QueryVectors(text=emb["text"][i], image=emb["image"][i + 1], audio=emb["audio"][i])
        # late and rrf normalise over the candidate set, which an ANN store narrows: compared on a flat store below
        for strategy in ("weighted", "max", "attention"):
            got = rank(store.retriever.candidates(qv), Weights(0.4, 0.4, 0.2), strategy=strategy, k=10)
            want = rank(exact.candidates(qv), Weights(0.4, 0.4, 0.2), strategy=strategy, k=n)
            score_of = dict(zip(want.rows.tolist(), want.scores.tolist()))
            np.testing.assert_allclose(got.scores, [score_of[r] for r in got.rows.tolist()], atol=1e-3)
            np.testing.assert_allclose(got.contributions.sum(axis=1), got.scores, atol=1e-5)
    flat = write_store(tmp_path / "f", items=items[:400], embeddings={m: e[:400] for m, e in emb.items()},
                       scaler=AudioScaler(np.zeros(64), np.ones(64)), encoder={"name": "t"})
    exact = Retriever({m: e[:400] for m, e in emb.items()}, config=IndexConfig(kind="flat"))
    qv = QueryVectors(text=emb["text"][0], image=emb["image"][1], audio=emb["audio"][0])
    for strategy in list_strategies():
        got = rank(flat.retriever.candidates(qv), Weights(0.4, 0.4, 0.2), strategy=strategy, k=10)
        want = rank(exact.candidates(qv), Weights(0.4, 0.4, 0.2), strategy=strategy, k=10)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-3)
        np.testing.assert_allclose(got.contributions.sum(axis=1), got.scores, atol=1e-5)
