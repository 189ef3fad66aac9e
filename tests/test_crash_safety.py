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

import pytest

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
    from mmrec_core.cache import EmbeddingCache
    from mmrec_core.ingest import ingest

    report = ingest(cat, tmp_path / "store", cache=EmbeddingCache(tmp_path / "cache.sqlite"))
    assert report.cached["text"] >= 100  # finished batches were not redone
    assert report.encoded["text"] == 408 - report.cached["text"]
    assert len(report.store.items) == 408
