"""The shipped demo answers its queries exactly as it did when the golden file was written (ids and scores)."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
import demo_golden  # noqa: E402


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    from mmrec_core.ingest import ingest

    path = tmp_path_factory.mktemp("golden") / "demo"
    ingest(DEMO, path)  # the shipped embeddings: seconds
    return path


def test_demo_top10_matches_the_golden_file(demo_store, tmp_path):
    with gzip.open(demo_golden.GOLDEN, "rt", encoding="utf-8") as f:
        golden = json.load(f)
    out = tmp_path / "got.json"  # a fresh process, towers in f32 (see demo_golden's docstring)
    subprocess.run([sys.executable, demo_golden.__file__, "--json", str(out), str(demo_store)], check=True,
                   env={**os.environ, "MMREC_PRECISION": "f32"}, cwd=demo_golden.ROOT)
    got = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(got) == sorted(golden)
    for run, queries in golden.items():
        assert sorted(got[run]) == sorted(queries), run
        for qid, top in queries.items():
            assert [i for i, _ in got[run][qid]] == [i for i, _ in top], (run, qid)
            # scores are printed to 6 decimals: two runs may round a tiny float difference apart by one unit
            assert [s for _, s in got[run][qid]] == pytest.approx([s for _, s in top], abs=1.5e-6), (run, qid)
