"""Store.derived: work that depends only on a store version is done once per process, for every caller."""

import threading
import time

import numpy as np

from mmrec_core.encoders.librosa_audio import AudioScaler
from mmrec_core.insight import map_view
from mmrec_core.retrieval import Weights
from mmrec_core.store import open_store, write_store
from mmrec_core.vectors import l2_normalize


def _store(tmp_path, n=60):
    rng = np.random.default_rng(0)
    items = [{"id": f"i{i}", "title": f"item {i}", "metadata": {"category": "ab"[i % 2]}} for i in range(n)]
    emb = {m: l2_normalize(rng.standard_normal((n, d))) for m, d in (("text", 8), ("image", 8), ("audio", 4))}
    write_store(tmp_path / "s", items=items, embeddings=emb, scaler=AudioScaler(np.zeros(4), np.ones(4)),
                encoder={"name": "test"})
    return open_store(tmp_path / "s")


def test_concurrent_callers_of_one_key_build_once(tmp_path):
    store = _store(tmp_path)
    calls = []

    def build():
        calls.append(1)
        time.sleep(0.2)
        return len(calls)

    got = []
    threads = [threading.Thread(target=lambda: got.append(store.derived("k", build))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and got == [1] * 8


def test_a_failed_build_is_retried_and_entries_are_bounded(tmp_path):
    from mmrec_core.store._read import DERIVED_ENTRIES

    store = _store(tmp_path)

    def boom():
        raise RuntimeError("no")

    try:
        store.derived("k", boom)
    except RuntimeError:
        pass
    assert store.derived("k", lambda: 7) == 7
    for i in range(DERIVED_ENTRIES + 5):
        store.derived(("n", i), lambda: i)
    assert len(store._derived) == DERIVED_ENTRIES and ("n", 0) not in store._derived


def test_map_view_projects_once_and_places_extra_rows_per_call(tmp_path, monkeypatch):
    import mmrec_core.insight._viz as viz

    store = _store(tmp_path)
    projected = []
    real = viz.project
    monkeypatch.setattr(viz, "project", lambda x, method: projected.append(len(x)) or real(x, method))
    a = map_view(store, "fused", "pca", Weights(), size=40)
    b = map_view(store, "fused", "pca", Weights(), size=40, extra=[int(r) for r in store.live_rows[:20]])
    assert projected == [40]
    assert a.placed == 0 and b.placed == len(np.setdiff1d(store.live_rows[:20], a.rows)) > 0
    assert np.array_equal(b.coords[: len(a.rows)], a.coords) and len(b.titles) == len(b.rows)
    map_view(store, "fused", "pca", Weights(text=1.0), size=40)
    assert projected == [40, 40]  # other weights: another projection
