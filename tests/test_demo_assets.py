"""Checks for the built-in demo catalog in assets/demo (built by scripts/build_demo.py)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "assets" / "demo"
CATALOG_COLUMNS = ["id", "title", "description", "image", "audio", "tags", "category", "source"]
MAX_IMAGE_SIDE = 192
MAX_TOTAL_BYTES = 16 * 1024 * 1024


def read_csv(name: str) -> tuple[list[str], list[dict]]:
    with (DEMO / name).open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def catalog() -> list[dict]:
    columns, rows = read_csv("catalog.csv")
    assert columns == CATALOG_COLUMNS
    return rows


def test_catalog_columns_and_ids(catalog):
    ids = [r["id"] for r in catalog]
    assert all(ids), "empty id"
    assert len(ids) == len(set(ids)), "duplicate ids"
    for r in catalog:
        assert r["title"], r["id"]
        assert r["category"], r["id"]
        assert r["tags"].split(";")[0] == r["category"], r["id"]
        assert r["source"].startswith("usr/share/tuxpaint/stamps/"), r["id"]


def test_counts(catalog):
    assert len(catalog) >= 900
    assert sum(1 for r in catalog if r["audio"]) >= 100


def test_images_exist_and_open(catalog):
    from PIL import Image

    for r in catalog:
        path = DEMO / r["image"]
        assert r["image"] == f"images/{r['id']}.webp"
        assert path.is_file(), path
        with Image.open(path) as im:
            im.load()
            assert im.format == "WEBP", path
            assert 0 < max(im.size) <= MAX_IMAGE_SIDE, (path, im.size)


def test_audio_files_exist(catalog):
    for r in catalog:
        if r["audio"]:
            assert r["audio"] == f"sounds/{r['id']}.ogg"
            assert (DEMO / r["audio"]).is_file(), r["audio"]


def test_audio_decodes(catalog):
    sf = pytest.importorskip("soundfile")
    for r in catalog:
        if r["audio"]:
            data, rate = sf.read(DEMO / r["audio"])
            assert rate == 22050, r["audio"]
            assert data.ndim == 1, r["audio"]  # mono
            assert 0 < len(data) <= rate * 10 + rate // 10, r["audio"]


def test_no_unreferenced_media(catalog):
    referenced = {r["image"] for r in catalog} | {r["audio"] for r in catalog if r["audio"]}
    on_disk = {p.relative_to(DEMO).as_posix() for d in ("images", "sounds") for p in (DEMO / d).iterdir()}
    assert on_disk == referenced


def test_queries_and_qrels(catalog):
    ids = {r["id"] for r in catalog}
    captions = {r["id"]: r["description"] for r in catalog if r["description"]}

    qcols, queries = read_csv("queries.csv")
    assert qcols == ["query_id", "text", "image", "audio"]
    qids = [q["query_id"] for q in queries]
    assert len(qids) == len(set(qids))
    assert {q["query_id"] for q in queries} == {f"q-{i}" for i in captions}
    for q in queries:
        assert q["text"] and q["text"] == captions[q["query_id"][2:]]

    rcols, qrels = read_csv("qrels.csv")
    assert rcols == ["query_id", "item_id", "relevance"]
    assert {r["query_id"] for r in qrels} == set(qids)
    for r in qrels:
        assert r["item_id"] in ids
        assert int(r["relevance"]) > 0


def test_license_and_sources_present():
    assert "GPL-2.0-or-later" in (DEMO / "LICENSE.txt").read_text(encoding="utf-8")
    assert "tuxpaint-stamps-default" in (DEMO / "SOURCES.md").read_text(encoding="utf-8")


def test_total_size():
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert total < MAX_TOTAL_BYTES, total
