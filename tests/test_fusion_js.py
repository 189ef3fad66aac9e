"""The browser's fusion twin (pages/rerank/fusion.mjs) and the library give the same answers.

tests/data/fusion_vectors.json holds the library's answers (tests/helpers/fusion_vectors.py); the first test
checks it is what the library answers today, the second runs the JavaScript test against it with Node."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from helpers.fusion_vectors import FILE, cases


def _same(a, b, where="") -> None:
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, float):
        assert b == pytest.approx(a, abs=1e-7), where
    else:
        assert a == b, where


def test_the_vectors_file_is_what_the_library_answers_today():
    shipped = json.loads(FILE.read_text())["cases"]
    # a failure here means a strategy changed: run `.venv/bin/python tests/helpers/fusion_vectors.py`
    _same(cases(), shipped, "cases")
    kinds = {c["strategy"] for c in shipped if "error" not in c}
    assert len(shipped) >= 70 and kinds >= {"weighted", "late", "max", "attention", "learned", "rrf"}
    assert any(len(set(map(tuple, c["sims"]))) < len(c["sims"]) for c in shipped), "exact ties are covered"


def test_node_twin_gives_the_library_answers():
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Node for the browser's fusion test (make test installs Debian's nodejs)")
        pytest.skip("needs Node (apt install nodejs) for the browser's fusion test")
    out = subprocess.run([node, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "# fail 0" in out.stdout and f"# pass {len(cases()) + 1}" in out.stdout


def test_top_k_ties_at_the_kth_place_go_to_the_earlier_rows():
    from mmrec_core.retrieval._fusion import top_k

    scores = np.array([0.1, 0.5, 0.5, 0.5, 0.9, 0.5], np.float32)
    for _ in range(3):
        assert top_k(scores, np.ones(6, bool), 3).tolist() == [4, 1, 2]
    assert top_k(scores, np.array([1, 1, 0, 1, 1, 1], bool), 2).tolist() == [4, 1]
