import json

import numpy as np
import pytest

from mmrec_core.audio import AudioScaler
from mmrec_core.errors import StoreError
from mmrec_core.index import IndexConfig
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
        np.testing.assert_array_equal(again.embeddings[m], emb[m])
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
    assert again.retriever.kinds["text"] == "ivf" and "text" in again.retriever.ann


def test_tampered_or_missing_store_refused(tmp_path):
    with pytest.raises(StoreError, match="not an mmrec store"):
        open_store(tmp_path / "nothing")
    store, _ = make(tmp_path)
    np.save(store.version_dir / "text.npy", np.zeros((29, 8), np.float32))
    with pytest.raises(StoreError, match=r"text.npy is float32 \(29, 8\), manifest says float32 \(30, 8\)"):
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
