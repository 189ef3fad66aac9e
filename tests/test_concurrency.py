"""One shared Engine (what the dashboard caches with st.cache_resource) answers 16 threads at once
exactly as it answers them one by one: lazy encoder loading, torch forward passes, audio features,
the FAISS searches and their thread pool, the lazily opened retriever.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mmrec_core.retrieval import Weights
from mmrec_core.retrieval import IndexConfig
from mmrec_core.query import Engine, Query
from mmrec_core.retrieval import QueryVectors, Retriever, rank
from mmrec_core.vectors import l2_normalize
from tests.test_search import synthetic

THREADS = 16
STRATEGIES = ("weighted", "late", "max", "attention", "rrf")


def hammer(fn, jobs: list, threads: int = THREADS) -> list:
    """fn(job) for every job, from `threads` threads released together; results in job order."""
    start = threading.Barrier(threads, timeout=600)

    def worker(i: int) -> list[tuple[int, object]]:
        start.wait()
        return [(j, fn(jobs[j])) for j in range(i, len(jobs), threads)]

    with ThreadPoolExecutor(threads) as pool:
        done = [r for part in pool.map(worker, range(threads)) for r in part]
    return [r for _, r in sorted(done, key=lambda jr: jr[0])]


def _png(colour: tuple[int, int, int], shape: str) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (64, 64), "white")
    getattr(ImageDraw.Draw(im), shape)((8, 8, 56, 56), fill=colour)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _wav(freq: float) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, 0.4 * np.sin(2 * np.pi * freq * np.arange(11025) / 22050), 22050, format="WAV")
    return buf.getvalue()


def engine_jobs(store) -> list[tuple[Query, Weights, str, int]]:
    """48 different queries (text, image, audio, seed items, mixes), each with its own weights, strategy and K."""
    rng = np.random.default_rng(7)
    texts = ["a round red ball", "a blue box", "rain falling", "the sea and the sky", "a green thing", "music",
             "a broken picture", "toys", "weather report", "a loud noise", "something square", "a poem"]
    queries = [Query(text=t) for t in texts]
    queries += [Query(image=_png(tuple(int(c) for c in rng.integers(0, 255, 3)), s)) for s in ("ellipse", "rectangle") * 5]
    queries += [Query(audio=_wav(f)) for f in (110, 330, 880, 1500, 3000)]
    queries += [Query(items=(i,)) for i in store.ids]
    queries += [Query(text=t, image=_png((200, 30, 30), "ellipse")) for t in texts[:5]]
    queries += [Query(text=t, audio=_wav(440)) for t in texts[5:8]]
    queries += [Query(text=texts[i], items=(store.ids[i % len(store.ids)],)) for i in range(5)]
    jobs = []
    for q in queries[:48]:
        w = Weights(*(float(x) for x in rng.choice([0.0, 0.2, 0.5, 0.8, 1.0], 3)))
        jobs.append((q, w if w.as_array().any() else Weights(1, 1, 1), STRATEGIES[len(jobs) % 5], int(rng.integers(1, 8))))
    return jobs


def answer(engine: Engine, job) -> list[tuple[str, float, tuple[float, ...]]]:
    query, weights, strategy, k = job
    return [(h.id, h.score, tuple(h.contributions.values())) for h in engine.search(query, weights, strategy=strategy, k=k)]


def test_one_engine_answers_16_threads_as_it_answers_one(tiny_store, monkeypatch):
    from mmrec_core.encoders import _registry as encoders
    from mmrec_core.store import open_store

    store = open_store(tiny_store.store.path)
    jobs = engine_jobs(store)
    assert len(jobs) == 48
    expected = [answer(Engine(store), job) for job in jobs]
    assert len({tuple(r[0] for r in e) for e in expected}) > 20, "the jobs should rank differently"
    # A fresh store and Engine, and no encoders loaded yet in this process: the first queries race to
    # build the encoder set, load the towers and open the retriever.
    monkeypatch.setattr(encoders, "_LOADED", {})
    shared = Engine(open_store(store.path))
    got = hammer(lambda job: answer(shared, job), jobs)
    for job, want, have in zip(jobs, expected, got):
        assert [h[0] for h in have] == [w[0] for w in want], job
        np.testing.assert_allclose([h[1:2] + h[2] for h in have], [w[1:2] + w[2] for w in want], rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_ann_retriever_from_16_threads_matches_sequential(kind, monkeypatch):
    from mmrec_core.retrieval import AnnIndex

    emb, _ = synthetic(6000, d=32, seed=3)
    config = IndexConfig(kind=kind, nprobe=8, depth=64)
    rng = np.random.default_rng(11)
    queries = []
    for i in range(96):
        q = {m: l2_normalize(emb[m][rng.integers(0, 6000)][None, :] + 0.3 * rng.standard_normal((1, 32)))[0] for m in emb}
        drop = i % 4  # some queries lack a modality
        queries.append(QueryVectors(text=q["text"], image=None if drop == 1 else q["image"], audio=None if drop == 2 else q["audio"]))
    built = Retriever(emb, config=config)
    built.build_ann()
    want = [built.candidates(q) for q in queries]
    builds = []
    build = AnnIndex.build
    monkeypatch.setattr(AnnIndex, "build", lambda *a, **kw: builds.append(a) or build(*a, **kw))
    for retriever in (built, Retriever(emb, config=config)):  # prebuilt indexes; indexes built on first search
        got = hammer(retriever.candidates, queries)
        for w, g in zip(want, got):
            np.testing.assert_array_equal(g.rows, w.rows)
            np.testing.assert_array_equal(g.sims, w.sims)
            np.testing.assert_array_equal(g.avail, w.avail)
        weights = Weights(0.3, 0.5, 0.2)
        assert [rank(g, weights, k=10).rows.tolist() for g in got] == [rank(w, weights, k=10).rows.tolist() for w in want]
    assert len(builds) == 3  # the lazy retriever built each modality's index once, not once per thread


def test_store_opens_its_retriever_once_under_contention(tmp_path: Path):
    from mmrec_core.encoders.librosa_audio import AudioScaler
    from mmrec_core.store import open_store, write_store

    emb, qv = synthetic(3000, d=16, seed=5)
    write_store(tmp_path / "s", items=[{"id": f"i{i}"} for i in range(3000)], embeddings=emb,
                scaler=AudioScaler(np.zeros(4, np.float32), np.ones(4, np.float32)), encoder={"name": "t", "spec": "bridge"},
                index_config=IndexConfig(kind="ivf"))
    store = open_store(tmp_path / "s")
    retrievers = hammer(lambda _: store.retriever, list(range(THREADS)))
    assert len({id(r) for r in retrievers}) == 1  # one set of FAISS indexes in memory, however many sessions ask
    assert set(retrievers[0].ann) == {"text", "image", "audio"}
