"""Generated hostile query and qrels files: parsed or refused with a clear error, never a crash or a hang.

1,000 generated queries.csv / qrels.csv pairs (missing, duplicated and extra columns, BOMs, wrong
encodings, NUL bytes, huge and hostile text, media paths to corrupt, missing or wrong-kind files)
go through load_queries / load_qrels; the queries that parse are encoded against a real store
(the first 40 files that parse, to keep the real encoders' cost small) and must give vectors or a QueryError.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmrec_core.errors import MMRecError
from mmrec_core.insight import load_qrels, load_queries

STATS: Counter[str] = Counter()
OUT = Path(__file__).parent / "out"
HOSTILE = ["a red ball", "<script>alert(1)</script>", "[x](javascript:alert(1))", "=HYPERLINK(\"x\")", "x" * 6000,
           "line\nbreak", "nul\x00byte", "emoji 🐧 ünïcode", "", "   "]
MEDIA = ["img/ok.png", "img/corrupt.png", "img/missing.png", "snd/ok.wav", "snd/corrupt.wav", "snd/nan.wav",
         "img", "../outside.png", "/etc/hostname", ""]
ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "utf-16"]


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np
    import soundfile as sf
    from PIL import Image

    root = tmp_path_factory.mktemp("fuzzq")
    (root / "img").mkdir()
    (root / "snd").mkdir()
    Image.new("RGB", (32, 32), "red").save(root / "img" / "ok.png")
    (root / "img" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(40))
    sf.write(root / "snd" / "ok.wav", 0.3 * np.sin(np.arange(8000) / 5.0), 16000)
    (root / "snd" / "corrupt.wav").write_bytes(b"RIFF" + os.urandom(40))
    nan = np.full(4000, np.nan, np.float32)
    sf.write(root / "snd" / "nan.wav", nan, 16000, subtype="FLOAT")
    return root


QUERY_COLUMNS = ["query_id", "text", "image", "audio", "items", "extra", "query_id"]
QREL_COLUMNS = ["query_id", "item_id", "relevance", "extra", "item_id"]
cell = st.one_of(st.sampled_from(HOSTILE + MEDIA), st.text(max_size=40))


@st.composite
def query_file(draw, pool: list[str]) -> tuple[bytes, list[str]]:
    header = draw(st.lists(st.sampled_from(pool), min_size=0, max_size=6))
    kind = "qrels" if "item_id" in pool else "queries"
    tags = [f"{kind} columns:{'+'.join(sorted(set(header))) or 'none'}"]
    rows = draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header) + 1), max_size=6))
    media_col = {i for i, h in enumerate(header) if h in ("image", "audio")}
    for row in rows:
        for i in media_col:
            if i < len(row):
                row[i] = draw(st.sampled_from(MEDIA))
                tags.append(f"media:{row[i] or 'empty'}")
    buf = io.StringIO()
    w = csv.writer(buf)
    if draw(st.booleans()) or header:
        w.writerow(header)
    w.writerows(rows)
    enc = draw(st.sampled_from(ENCODINGS))
    tags.append(f"encoding:{enc}")
    text = buf.getvalue()
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]  # truncated mid-row
        tags.append("truncated")
    return text.encode(enc, errors="replace"), tags


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(queries=query_file(QUERY_COLUMNS), qrels=query_file(QREL_COLUMNS))
def test_generated_query_files_parse_or_fail_clearly(media_dir, tiny_store, queries, qrels):
    from mmrec_core.query import Engine

    STATS["pairs"] += 1
    for tag in queries[1] + qrels[1]:
        STATS[tag] += 1
    qpath, rpath = media_dir / "queries.csv", media_dir / "qrels.csv"
    qpath.write_bytes(queries[0])
    rpath.write_bytes(qrels[0])
    start = time.perf_counter()
    try:
        parsed = load_queries(qpath)
        STATS["queries files parsed"] += 1
    except MMRecError as exc:
        assert str(exc)  # a message a user can read
        STATS["queries files refused"] += 1
        parsed = []
    try:
        load_qrels(rpath)
        STATS["qrels files parsed"] += 1
    except MMRecError as exc:
        assert str(exc)
        STATS["qrels files refused"] += 1
    if parsed and STATS["files encoded"] < 40:
        STATS["files encoded"] += 1
        engine = Engine(tiny_store.store)
        for q in parsed:
            try:
                engine.vectors(q.query)
                STATS["queries encoded"] += 1
            except MMRecError as exc:
                assert str(exc)
                STATS["queries refused at encoding"] += 1
    assert time.perf_counter() - start < 60  # no hang


def test_fuzz_queries_summary():
    if not STATS:
        pytest.skip("runs after the generated query files")
    assert STATS["pairs"] == 1000
    assert STATS["queries files parsed"] > 20 and STATS["queries files refused"] > 20
    assert STATS["qrels files parsed"] > 20 and STATS["qrels files refused"] > 20
    assert STATS["queries encoded"] > 0 and STATS["queries refused at encoding"] > 0
    OUT.mkdir(exist_ok=True)
    (OUT / "fuzz-queries-summary.json").write_text(json.dumps(dict(sorted(STATS.items())), indent=1))
