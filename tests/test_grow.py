"""A store that grows in place: add and remove write new versions without copying what did not change."""

import json
import os
import shutil

import numpy as np
import pytest

from mmrec_core.encoders.librosa_audio import AudioScaler
from mmrec_core.cli import main
from mmrec_core.errors import CatalogError, StoreError
from mmrec_core.retrieval import MODALITIES, Weights
from mmrec_core.retrieval import IndexConfig
from mmrec_core.retrieval import QueryVectors, Retriever, rank
from mmrec_core.store import Rows, add_items, open_store, remove_items, write_store
from mmrec_core.vectors import l2_normalize

ENC = {"name": "test", "spec": "bridge"}
DIMS = {"text": 16, "image": 16, "audio": 4}


def rows(ids, seed, *, audio_every=2):
    rng = np.random.default_rng(seed)
    emb = {m: l2_normalize(rng.standard_normal((len(ids), d))) for m, d in DIMS.items()}
    emb["audio"][::audio_every] = 0
    return Rows([{"id": i, "title": f"title {i}", "tags": ["t"]} for i in ids], emb)


def make(path, n=300, *, config=IndexConfig(flat_max=100)):
    r = rows([f"i{i}" for i in range(n)], 0)
    return write_store(path, items=r.items, embeddings=r.embeddings, scaler=AudioScaler(np.zeros(4), np.ones(4)),
                       encoder=ENC, index_config=config), r


def exact_top(store, q, k=10):
    live = store.live_rows
    emb = {m: np.asarray(store.vectors(m, live)) for m in MODALITIES}
    got = rank(Retriever(emb, config=IndexConfig(kind="flat")).candidates(q), Weights(0.5, 0.5, 0), k=k)
    return [store.ids[live[r]] for r in got.rows]


def test_add_appends_rows_links_unchanged_indexes_and_finds_new_items(tmp_path):
    store, base = make(tmp_path / "s")
    gen = tmp_path / "s" / "data" / store.manifest["data"]
    inode = os.stat(gen / "text.f16").st_ino
    new = rows(["n0", "n1", "n2"], 7, audio_every=1)  # no audio: the audio index must stay as it was
    store2, change = add_items(tmp_path / "s", new, encoder=ENC)
    assert (change.added, change.replaced) == (3, 0) and store2.n_items == 303
    assert store2.manifest["data"] == store.manifest["data"] and os.stat(gen / "text.f16").st_ino == inode
    assert os.stat(store2.version_dir / "index_audio.faiss").st_ino == os.stat(store.version_dir / "index_audio.faiss").st_ino
    assert "no retrain" in change.index["text"] and change.index["audio"] == "unchanged"
    assert store2.manifest["last_change"]["index"] == dict(change.index)
    # the old version still opens with its own rows (a reader that had it open keeps working)
    old = open_store(tmp_path / "s")
    assert old.n_items == 303 and old.row_of("n1") == 301
    q = QueryVectors(text=new.embeddings["text"][1], image=new.embeddings["image"][1])
    top = [store2.ids[r] for r in rank(store2.retriever.candidates(q), Weights(0.5, 0.5, 0), k=10).rows]
    assert top[0] == "n1" and top == exact_top(store2, q)


def test_add_replaces_existing_ids_and_remove_drops_them(tmp_path):
    make(tmp_path / "s")
    repl = rows(["i5", "i6"], 9)
    store, change = add_items(tmp_path / "s", repl, encoder=ENC)
    assert (change.added, change.replaced) == (0, 2) and store.n_items == 300
    r5 = store.row_of("i5")
    assert r5 == 300 and store.ids[5] == "" and not store.present[5].any()
    np.testing.assert_allclose(store.vectors("text", [r5])[0], repl.embeddings["text"][0], atol=1e-3)
    q = QueryVectors(text=repl.embeddings["text"][0], image=repl.embeddings["image"][0])
    cands = store.retriever.candidates(q)
    assert 5 not in rank(cands, Weights(0.5, 0.5, 0), k=300).rows.tolist()
    store, change = remove_items(tmp_path / "s", ["i5", "i7"])
    assert change.removed == 2 and store.n_items == 298
    with pytest.raises(StoreError, match="no item with id 'i7'"):
        store.row_of("i7")
    for m in ("text", "image"):
        assert store.retriever.ann[m].size == int(store.present[:, MODALITIES.index(m)].sum())
    assert store.counts()["text"] == 298


def test_remove_refuses_bad_ids_and_emptying_the_store(tmp_path):
    store, _ = make(tmp_path / "s", n=20)
    with pytest.raises(StoreError, match=r"2 id\(s\) not in store s: 'nope', 'zz'; nothing was removed"):
        remove_items(tmp_path / "s", ["i1", "nope", "zz"])
    with pytest.raises(StoreError, match="at least one item id"):
        remove_items(tmp_path / "s", [" ", ""])
    with pytest.raises(StoreError, match="would remove all 20 items"):
        remove_items(tmp_path / "s", [f"i{i}" for i in range(20)])
    assert open_store(tmp_path / "s").version == store.version  # nothing was written


def test_drift_retrains_and_many_removals_compact(tmp_path):
    make(tmp_path / "s", n=300)
    # far more new rows than the index was trained on: it is retrained, and the manifest says why
    store, change = add_items(tmp_path / "s", rows([f"n{i}" for i in range(400)], 3), encoder=ENC)
    assert change.index["text"].startswith("retrained (") and "added since training" in change.index["text"]
    assert store.manifest["index"]["trained"]["text"]["rows"] == 700
    store, change = remove_items(tmp_path / "s", [f"n{i}" for i in range(300)])
    assert change.compacted and store.n_items == 400 and int(store.manifest["n_rows"]) == 400
    assert store.manifest["data"] != "g000001" and store.ids[:2] == ["i0", "i1"]
    assert not (tmp_path / "s" / "data" / "g000001").exists() or len(list((tmp_path / "s" / "versions").glob("v*"))) <= 3


def test_add_checks_encoder_dims_and_duplicates(tmp_path):
    make(tmp_path / "s", n=20)
    with pytest.raises(StoreError, match="encoded with 'other'"):
        add_items(tmp_path / "s", rows(["x"], 1), encoder={"name": "other"})
    with pytest.raises(StoreError, match="repeat ids: 'x'"):
        add_items(tmp_path / "s", rows(["x", "x"], 1), encoder=ENC)
    bad = Rows([{"id": "y"}], {"text": np.ones((1, 8), np.float32), "image": np.ones((1, 16), np.float32),
                               "audio": np.zeros((1, 4), np.float32)})
    with pytest.raises(StoreError, match="text vectors have dimension 8"):
        add_items(tmp_path / "s", bad, encoder=ENC)


def test_a_killed_writer_leaves_the_live_version_and_its_leftovers_are_cut(tmp_path):
    store, _ = make(tmp_path / "s", n=20)
    gen = tmp_path / "s" / "data" / store.manifest["data"]
    with open(gen / "text.f16", "ab") as f:  # a writer killed mid-append left half a row behind
        f.write(b"\x01" * 7)
    (tmp_path / "s" / "versions" / "v000009").mkdir()  # ... and a renamed version it never made live
    assert open_store(tmp_path / "s").n_items == 20
    store, _ = add_items(tmp_path / "s", rows(["n"], 2), encoder=ENC)
    assert store.version == "v000002" and store.n_items == 21
    assert (gen / "text.f16").stat().st_size == 21 * 16 * 2


def test_format_1_store_opens_and_converts_on_add(tmp_path):
    """A store written before format 2 (float32 .npy files, items.json) is read as it is; add converts it."""
    path, vdir = tmp_path / "old", tmp_path / "old" / "versions" / "v000001"
    vdir.mkdir(parents=True)
    old = rows([f"o{i}" for i in range(12)], 4)
    for m in MODALITIES:
        np.save(vdir / f"{m}.npy", old.embeddings[m])
    (vdir / "items.json").write_text(json.dumps(list(old.items)))
    (vdir / "audio_scaler.json").write_text(json.dumps(AudioScaler(np.zeros(4), np.ones(4)).to_dict()))
    (vdir / "manifest.json").write_text(json.dumps({
        "format": "mmrec-store", "format_version": 1, "n_items": 12, "dims": DIMS, "encoder": ENC,
        "counts": {"text": 12, "image": 12, "audio": 6}, "index": {"config": {}, "kinds": {}}}))
    (path / "CURRENT").write_text("v000001\n")
    s = open_store(path)
    assert s.n_items == 12 and s.embeddings["text"].dtype == np.float32 and s.row_of("o3") == 3
    q = QueryVectors(text=old.embeddings["text"][3], image=old.embeddings["image"][3])
    assert s.ids[rank(s.retriever.candidates(q), Weights(0.5, 0.5, 0), k=1).rows[0]] == "o3"
    s2, change = add_items(path, rows(["n"], 5), encoder=ENC)
    assert s2.manifest["format_version"] == 2 and s2.n_items == 13 and s2.row_of("o3") == 3


def test_cli_add_and_remove_on_a_real_catalog(tiny_catalog, tmp_path, capsys):
    from mmrec_core.ingest import ingest

    ingest(tiny_catalog, tmp_path / "s")
    more = tmp_path / "more"
    more.mkdir()
    (more / "catalog.csv").write_text("id,title,description,image,audio,video,tags\n"
                                      "lamp,A desk lamp,a bright reading lamp,,,,home\n"
                                      "red,Red again,a new description of red,,,,colour\n")
    assert main(["add", str(more), "--store", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "1 added, 1 replaced" in out and "9 items now" in out
    store = open_store(tmp_path / "s")
    assert store.items[store.row_of("red")]["title"] == "Red again"
    assert main(["search", "--store", str(tmp_path / "s"), "--text", "a bright reading lamp", "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"][0]["id"] == "lamp"
    (tmp_path / "ids.txt").write_text("lamp\n\npoem\n")
    assert main(["remove", "--store", str(tmp_path / "s"), "--ids-file", str(tmp_path / "ids.txt")]) == 0
    assert "2 removed; 7 items now" in capsys.readouterr().out
    assert main(["remove", "--store", str(tmp_path / "s"), "--ids", "lamp"]) == 1
    assert "not in store s: 'lamp'" in capsys.readouterr().err


def test_add_of_a_catalog_whose_items_all_fail_changes_nothing(tiny_catalog, tmp_path):
    from mmrec_core.ingest import add, ingest

    ingest(tiny_catalog, tmp_path / "s")
    before = open_store(tmp_path / "s").version
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    (bad / "catalog.csv").write_text("id,title,description,image,audio,video,tags\nb1,,,broken.png,,,\nb2,,,missing.png,,,\n")
    with pytest.raises(CatalogError):
        add(bad, tmp_path / "s")
    assert open_store(tmp_path / "s").version == before
    shutil.rmtree(bad)
