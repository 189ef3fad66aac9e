"""kill -9 at random points never leaves a store that opens half-written; ingestion resumes from the cache."""

import csv
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


from mmrec_core.errors import StoreError
from mmrec_core.store import open_store

HERE = Path(__file__).parent
TRIALS = 25


def test_kill9_during_store_writes_always_leaves_a_valid_store(tmp_path):
    rng = random.Random(42)
    store = tmp_path / "s"
    opened = 0
    for trial in range(TRIALS):
        proc = subprocess.Popen([sys.executable, str(HERE / "helpers" / "store_writer.py"), str(store), "3000"],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            s = open_store(store, mmap=False)
        except StoreError as exc:
            assert "no CURRENT file" in str(exc)  # killed before the first version went live
            continue
        opened += 1
        assert len(s.items) == s.embeddings["text"].shape[0] == s.manifest["n_items"]
    assert opened >= TRIALS // 2


def test_interrupted_ingest_resumes_without_redoing_finished_items(tiny_catalog, tmp_path):
    cat = tmp_path / "cat"
    shutil.copytree(tiny_catalog, cat)
    # more text items, so that a kill lands in the middle of the work
    with open(cat / "catalog.csv", "a", newline="") as f:
        w = csv.writer(f)
        for i in range(400):
            w.writerow([f"extra{i}", f"Item number {i}", f"a description of thing {i} " * 5, "", "", "extra", ""])
    env = {**os.environ, "MMREC_EMBED_CACHE": str(tmp_path / "cache.sqlite")}
    code = ("import sys; from mmrec_core.ingest import ingest\n"
            "def p(stage, done, total):\n"
            "    print(stage, done, total, flush=True)\n"
            f"ingest({str(cat)!r}, {str(tmp_path / 'store')!r}, batch_size=8, progress=p)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env,
                            cwd=HERE.parent)
    for line in proc.stdout:
        stage, done, total = line.split()
        if stage == "text" and int(done) >= 100:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert not (tmp_path / "store" / "CURRENT").exists()
    from mmrec_core.ingest import EmbeddingCache
    from mmrec_core.ingest import ingest

    report = ingest(cat, tmp_path / "store", cache=EmbeddingCache(tmp_path / "cache.sqlite"))
    assert report.cached["text"] >= 100  # finished batches were not redone
    assert report.encoded["text"] == 408 - report.cached["text"]
    assert len(report.store.items) == 408


def test_kill9_during_add_and_remove_leaves_the_previous_version_live(tmp_path):
    """Adds and removes append to shared column files: a kill mid-append must not touch what the live version reads."""
    from mmrec_core.retrieval import Weights
    from mmrec_core.retrieval import QueryVectors, rank
    from mmrec_core.store import Rows, add_items
    from mmrec_core.vectors import l2_normalize
    import numpy as np

    rng = random.Random(7)
    store = tmp_path / "s"
    versions = set()
    for trial in range(12):
        proc = subprocess.Popen([sys.executable, str(HERE / "helpers" / "store_writer.py"), str(store), "1500", "--grow"],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        s = open_store(store)
        versions.add(s.version)
        live = s.live_rows
        assert len(live) == s.n_items and all(s.ids[r] for r in live)
        assert all(s.row_of(s.ids[r]) == r for r in live[:: max(1, len(live) // 50)])
        for m in ("text", "image"):  # every live row is readable and searchable, none of the dead ones is returned
            vec = s.vectors(m, [live[-1]])[0]
            assert abs(float(vec @ vec) - 1) < 1e-2
        r = live[-1]
        q = QueryVectors(text=s.vectors("text", [r])[0], image=s.vectors("image", [r])[0])
        top = rank(s.retriever.candidates(q), Weights(0.5, 0.5, 0), k=5).rows
        assert top[0] == r and all(s.ids[t] for t in top)
    # the next writer cuts what a killed one left and goes on
    emb = {m: l2_normalize(np.random.default_rng(1).standard_normal((3, d))) for m, d in (("text", 64), ("image", 64), ("audio", 8))}
    after, _ = add_items(store, Rows([{"id": f"after{i}"} for i in range(3)], emb), encoder={"name": "t"})
    assert after.row_of("after2") == int(after.manifest["n_rows"]) - 1
    assert len(versions) > 3  # the kills landed at different points
