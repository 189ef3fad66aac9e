"""Index backends: FAISS (embedded) and Milvus (Lite) through the same assertions.

Both use exact indexes here (FAISS: the flat scan; Milvus: FLAT with a depth covering every row), so
every fusion strategy's top-10, scores and contributions must equal the exact ranking, and each other.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmrec_core.encoders.librosa_audio import AudioScaler
from mmrec_core.retrieval import backend_of, parse_backend
from mmrec_core.cli import main
from mmrec_core.errors import MMRecError, UnknownNameError
from mmrec_core.retrieval import MODALITIES, Weights, list_strategies
from mmrec_core.retrieval import IndexConfig
from mmrec_core.retrieval import QueryVectors, Retriever, rank
from mmrec_core.store import Rows, add_items, open_store, remove_items, write_store
from mmrec_core.vectors import l2_normalize

BACKENDS = ["faiss", "milvus"]
STRATEGIES = sorted(list_strategies())
ENC = {"name": "test", "spec": "bridge"}
DIMS = {"text": 16, "image": 16, "audio": 4}
ROOT = Path(__file__).resolve().parents[1]


def rows(ids, seed, *, audio_every=2):
    rng = np.random.default_rng(seed)
    emb = {m: l2_normalize(rng.standard_normal((len(ids), d))) for m, d in DIMS.items()}
    emb["audio"][::audio_every] = 0  # every other item has no audio
    return Rows([{"id": i, "title": f"title {i}"} for i in ids], emb)


def make(path, backend, n=200, *, config=IndexConfig()):
    r = rows([f"i{i}" for i in range(n)], 0)
    return write_store(path, items=r.items, embeddings=r.embeddings, scaler=AudioScaler(np.zeros(4), np.ones(4)),
                       encoder=ENC, index_config=config, index=backend), r


def queries(emb):
    return {"text+image": QueryVectors(text=emb["text"][3], image=emb["image"][5]),
            "all three": QueryVectors(text=emb["text"][7], image=emb["image"][7], audio=emb["audio"][7]),
            "audio": QueryVectors(audio=emb["audio"][9])}


def exact(store, q, strategy, k=10):
    """The exact fused ranking over every live row, from plain numpy (ids, scores, contributions)."""
    live = store.live_rows
    emb = {m: store.vectors(m, live) for m in MODALITIES}
    got = rank(Retriever(emb, config=IndexConfig(kind="flat"), present=store.present[live]).candidates(q),
               Weights(0.4, 0.4, 0.2), strategy=strategy, k=k)
    return [store.ids[live[r]] for r in got.rows], got.scores, got.contributions


def ranked(store, q, strategy, k=10):
    got = rank(store.retriever.candidates(q), Weights(0.4, 0.4, 0.2), strategy=strategy, k=k)
    return [store.ids[r] for r in got.rows], got.scores, got.contributions


def same(a, b):
    assert a[0] == b[0]
    np.testing.assert_allclose(a[1], b[1], atol=1e-5)
    np.testing.assert_allclose(a[2], b[2], atol=1e-5)


@pytest.fixture(scope="module", params=BACKENDS)
def built(request, tmp_path_factory):
    return make(tmp_path_factory.mktemp(request.param) / "s", request.param)


@pytest.mark.parametrize("kind", ["text+image", "all three", "audio"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_equals_the_exact_ranking(built, strategy, kind):
    store, r = built
    q = queries(r.embeddings)[kind]
    same(ranked(store, q, strategy), exact(store, q, strategy))


@pytest.fixture(scope="module")
def real_pair(tiny_store, tmp_path_factory):
    """The tiny catalog's real vectors (offline encoders) written once per backend."""
    src = tiny_store.store
    live = src.live_rows
    out = {}
    for backend in BACKENDS:
        out[backend] = write_store(tmp_path_factory.mktemp(f"real-{backend}") / "s", items=[src.items[r] for r in live],
                                   embeddings={m: src.vectors(m, live) for m in MODALITIES}, scaler=src.scaler,
                                   encoder=src.manifest["encoder"], index=backend)
    return out


@pytest.mark.parametrize("kind", ["item", "text"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_milvus_equals_faiss_on_a_real_store(real_pair, strategy, kind):
    faiss, milvus = real_pair["faiss"], real_pair["milvus"]
    assert backend_of(faiss.manifest) is None and backend_of(milvus.manifest)["name"] == "milvus"
    row = int(faiss.live_rows[1])
    vec = {m: faiss.vectors(m, [row])[0] for m in MODALITIES}
    q = (QueryVectors(**{m: v if np.any(v) else None for m, v in vec.items()}) if kind == "item"
         else QueryVectors(text=vec["text"], image=vec["text"]))
    same(ranked(milvus, q, strategy), ranked(faiss, q, strategy))


@pytest.mark.parametrize("backend", BACKENDS)
def test_candidates_hold_each_modalitys_exact_top_depth(backend, tmp_path):
    store, r = make(tmp_path / "s", backend, n=300, config=IndexConfig(depth=40))
    q = queries(r.embeddings)["all three"]
    cands = set(store.retriever.candidates(q).rows.tolist())
    for j, m in enumerate(MODALITIES):
        sims = np.where(store.present[:, j], store.vectors(m, slice(None)) @ q.get(m), -np.inf)
        assert set(np.argsort(-sims)[:40].tolist()) <= cands


def test_a_missing_modality_never_leaks(built):
    store, r = built
    got = rank(store.retriever.candidates(QueryVectors(audio=r.embeddings["audio"][9])), Weights(0, 0, 1),
               k=store.n_items)
    assert len(got.rows) == int(store.present[:, 2].sum()) and store.present[got.rows, 2].all()
    if backend_of(store.manifest):  # Milvus itself never proposes a row without audio for an audio query
        proposed = store.retriever.source.propose({"audio": r.embeddings["audio"][9]}, store.n_items)["audio"]
        assert len(proposed) == int(store.present[:, 2].sum()) and store.present[proposed, 2].all()


OPEN_AND_SEARCH = """
import json, sys
import numpy as np
from mmrec_core.retrieval import Weights
from mmrec_core.retrieval import QueryVectors, rank
from mmrec_core.store import open_store
s = open_store(sys.argv[1])
q = QueryVectors(text=np.array(json.loads(sys.argv[2]), np.float32), image=np.array(json.loads(sys.argv[3]), np.float32))
print(json.dumps([s.ids[r] for r in rank(s.retriever.candidates(q), Weights(0.5, 0.5, 0), k=10).rows]))
"""


def search_in_new_process(path, q):
    out = subprocess.run([sys.executable, "-c", OPEN_AND_SEARCH, str(path), json.dumps(q.text.tolist()),
                          json.dumps(q.image.tolist())], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_reopen_in_a_new_process(backend, tmp_path):
    """A fresh process (a restart) answers as the writer did; for Lite, first as the database's holder,
    then while this process holds it (it is served to the other process, never opened twice)."""
    r = rows([f"i{i}" for i in range(120)], 0)
    q = queries(r.embeddings)["text+image"]
    code = ("import sys, numpy as np; from mmrec_core.store import write_store; from mmrec_core.encoders.librosa_audio import AudioScaler;"
            "import pickle; r = pickle.load(open(sys.argv[1], 'rb'));"
            "write_store(sys.argv[2], items=r.items, embeddings=r.embeddings, scaler=AudioScaler(np.zeros(4), np.ones(4)),"
            f"encoder={ENC!r}, index={backend!r})")
    import pickle
    (tmp_path / "rows.pkl").write_bytes(pickle.dumps(r))
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "rows.pkl"), str(tmp_path / "s")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    first = search_in_new_process(tmp_path / "s", q)  # the writer has exited: this one holds the database
    store = open_store(tmp_path / "s")
    here = ranked(store, q, "weighted")[0]
    assert first == here == exact(store, q, "weighted")[0]
    assert search_in_new_process(tmp_path / "s", q) == here  # this process holds it now


def test_a_dropped_client_reconnects_to_the_server_this_process_runs(tmp_path):
    """After a failed call the client is dropped; the Lite server this process runs still holds the database,
    so the next call must reach it (not wait for 'another process' and give up)."""
    from mmrec_core.retrieval import milvus

    store, r = make(tmp_path / "s", "milvus", n=60)
    q = queries(r.embeddings)["all three"]
    before = ranked(store, q, "weighted")
    milvus.forget(tmp_path / "s", {"uri": "lite"})
    same(ranked(open_store(tmp_path / "s"), q, "weighted"), before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_add_and_remove(backend, tmp_path):
    old, base = make(tmp_path / "s", backend)
    new = rows(["n0", "n1", "i5"], 7, audio_every=1)  # i5 is replaced; no new audio
    store, change = add_items(tmp_path / "s", new, encoder=ENC)
    assert (change.added, change.replaced, store.n_items) == (2, 1, 202)
    for i, item in enumerate(["n0", "n1", "i5"]):
        q = QueryVectors(text=new.embeddings["text"][i], image=new.embeddings["image"][i])
        top = ranked(store, q, "weighted")[0]
        assert top[0] == item and top == exact(store, q, "weighted")[0]
    q_old = QueryVectors(text=base.embeddings["text"][5], image=base.embeddings["image"][5])
    assert ranked(store, q_old, "weighted")[0] == exact(store, q_old, "weighted")[0]  # i5's old vectors are gone
    # a reader of the older version keeps its own rows: never a row added after it
    assert old.retriever.candidates(q_old).rows.max() < old.manifest["n_rows"]
    store, change = remove_items(tmp_path / "s", ["i3", "n1"])
    assert change.removed == 2 and store.n_items == 200
    for item, q in [("i3", QueryVectors(text=base.embeddings["text"][3], image=base.embeddings["image"][3])),
                    ("n1", QueryVectors(text=new.embeddings["text"][1], image=new.embeddings["image"][1]))]:
        top = ranked(store, q, "weighted", k=50)[0]
        assert item not in top and top == exact(store, q, "weighted", k=50)[0]
    again = open_store(tmp_path / "s")
    assert ranked(again, q, "weighted")[0] == exact(again, q, "weighted")[0]


def test_compaction_moves_milvus_rows_to_a_new_collection(tmp_path):
    from mmrec_core.retrieval import milvus

    store, _ = make(tmp_path / "s", "milvus", n=40)
    first = store.manifest["data"]
    store, change = remove_items(tmp_path / "s", [f"i{i}" for i in range(15)])
    assert change.compacted and store.manifest["data"] != first and backend_of(store.manifest)["uri"] == "lite"
    c = milvus.client(store.path, backend_of(store.manifest))
    assert c.get_collection_stats(milvus.collection_name(backend_of(store.manifest), store.manifest["data"]))["row_count"] == 25
    r = store.retriever.source.propose({"text": store.vectors("text", [0])[0]}, 100)["text"]
    assert sorted(store.ids[x] for x in r) == sorted(f"i{i}" for i in range(15, 40))


def test_ingest_cli_records_the_backend_and_searches_alike(tiny_catalog, tiny_store, tmp_path, capsys):
    assert main(["ingest", str(tiny_catalog), "--store", str(tmp_path / "m"), "--index", "milvus", "--json"]) == 0
    capsys.readouterr()
    store = open_store(tmp_path / "m")
    assert backend_of(store.manifest) == {"name": "milvus", "uri": "lite", "collection": "mmrec"}
    assert (tmp_path / "m" / "milvus.db").is_dir()
    out = []
    for path in (tmp_path / "m", tiny_store.store.path):
        assert main(["search", "--store", str(path), "--text", "a red square", "--json"]) == 0
        out.append([(h["id"], round(h["score"], 4)) for h in json.loads(capsys.readouterr().out)["results"]])
    assert out[0] == out[1]
    # ingest again without --index keeps the store's backend
    assert main(["ingest", str(tiny_catalog), "--store", str(tmp_path / "m"), "--json"]) == 0
    assert backend_of(open_store(tmp_path / "m").manifest)["name"] == "milvus"


def test_bad_backends(tmp_path, monkeypatch, capsys):
    assert parse_backend("faiss") is None
    assert parse_backend("milvus://db.example:19530/things") == {"name": "milvus", "uri": "http://db.example:19530",
                                                                  "collection": "things"}
    assert parse_backend("milvus://h:1", store_name="my-store")["collection"] == "mmrec_my_store"
    with pytest.raises(UnknownNameError, match="Available: faiss, milvus"):
        parse_backend("qdrant")
    with pytest.raises(UnknownNameError, match="collection"):
        parse_backend("milvus://h:1/9bad")
    assert main(["ingest", "nowhere", "--store", str(tmp_path / "x"), "--index", "elastic"]) == 1
    assert "unknown index backend 'elastic'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    from mmrec_core.retrieval.milvus import require

    with pytest.raises(MMRecError, match=r"mmrec\[scale\]"):
        require()
