import numpy as np
import pytest

from mmrec_core.errors import QueryError, UnknownNameError
from mmrec_core.retrieval import Weights, fuse
from mmrec_core.retrieval import IndexConfig
from mmrec_core.retrieval import QueryVectors, Retriever, rank
from mmrec_core.vectors import l2_normalize


def synthetic(n: int, d: int = 32, *, seed: int = 0, clusters: int = 40):
    """Clustered unit vectors per modality (zero rows for ~20% missing image/audio) and a query near item 0."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, clusters, n)
    emb = {}
    for m in ("text", "image", "audio"):
        centers = rng.standard_normal((clusters, d))
        e = l2_normalize(centers[labels] + 0.6 * rng.standard_normal((n, d)))
        if m != "text":
            e[rng.random(n) < 0.2] = 0
        emb[m] = e
    q = {m: l2_normalize(emb[m][:1] + 0.3 * rng.standard_normal((1, d)))[0] for m in emb}
    return emb, QueryVectors(text=q["text"], image=q["text"], audio=q["audio"])


def brute_force(emb, qv, weights, k, strategy="weighted"):
    sims = np.stack([emb[m] @ qv.get(m) for m in ("text", "image", "audio")], axis=1)
    avail = np.stack([np.linalg.norm(emb[m], axis=1) > 0.5 for m in ("text", "image", "audio")], axis=1)
    f = fuse(sims, avail, weights, strategy=strategy)
    order = np.lexsort((np.arange(len(f.scores)), -f.scores))
    return order[f.valid[order]][:k], f


@pytest.mark.parametrize("strategy", ["weighted", "late", "max", "attention", "rrf"])
def test_flat_matches_brute_force(strategy):
    emb, qv = synthetic(500)
    r = Retriever(emb)
    assert r.exhaustive
    w = Weights(0.3, 0.5, 0.2)
    got = rank(r.candidates(qv), w, strategy=strategy, k=10)
    want, f = brute_force(emb, qv, w, 10, strategy)
    assert got.rows.tolist() == want.tolist()
    np.testing.assert_allclose(got.scores, f.scores[want], atol=1e-5)
    np.testing.assert_allclose(got.contributions.sum(axis=1), got.scores, atol=1e-5)


@pytest.mark.parametrize("kind", ["ivfpq", "ivf", "hnsw"])
def test_ann_recall_against_exact(kind):
    emb, _ = synthetic(6000, seed=1)
    r = Retriever(emb, config=IndexConfig(kind=kind, depth=100))
    r.build_ann()
    assert not r.exhaustive
    exact = Retriever(emb, config=IndexConfig(kind="flat"))
    rng = np.random.default_rng(3)
    w, hits = Weights(0.4, 0.4, 0.2), []
    for i in rng.choice(6000, 20, replace=False):
        qv = QueryVectors(text=emb["text"][i], image=emb["text"][i], audio=emb["audio"][i] if emb["audio"][i].any() else None)
        a = set(rank(r.candidates(qv), w, k=10).rows.tolist())
        b = rank(exact.candidates(qv), w, k=10)
        hits.append(len(a & set(b.rows.tolist())) / 10)
        # scores of returned rows are exact (rescored), not approximations
        cand = r.candidates(qv)
        np.testing.assert_allclose(cand.sims[:, 0], emb["text"][cand.rows] @ emb["text"][i], atol=1e-5)
    assert np.mean(hits) >= 0.9


def test_auto_picks_flat_then_ann():
    emb, _ = synthetic(300)
    assert Retriever(emb, config=IndexConfig(flat_max=1000)).kinds["text"] == "flat"
    assert Retriever(emb, config=IndexConfig(flat_max=100)).kinds["text"] == "ivfpq"


def test_exclude_and_errors():
    emb, qv = synthetic(100)
    r = Retriever(emb)
    top = rank(r.candidates(qv), Weights(), k=3).rows
    excluded = QueryVectors(text=qv.text, image=qv.image, exclude=frozenset({int(top[0])}))
    assert int(top[0]) not in rank(r.candidates(excluded), Weights(), k=3).rows
    with pytest.raises(QueryError, match="empty"):
        r.candidates(QueryVectors())
    with pytest.raises(QueryError, match="dimension 5"):
        r.candidates(QueryVectors(text=np.ones(5, np.float32)))
    with pytest.raises(UnknownNameError, match="Available: auto"):
        IndexConfig(kind="lsh")


def test_reweighting_reuses_candidates_without_rescanning():
    emb, qv = synthetic(400)
    r = Retriever(emb)
    cands = r.candidates(qv)
    for a in (0.0, 0.5, 1.0):
        w = Weights.from_alpha(a, audio=0.0)
        want, _ = brute_force(emb, qv, w, 5)
        assert rank(cands, w, k=5).rows.tolist() == want.tolist()
