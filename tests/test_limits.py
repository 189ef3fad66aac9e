"""Upload limits on the Catalog page: over the item limit or the size limit, a clear error and the open store kept."""

from __future__ import annotations

import tomllib
from pathlib import Path

from helpers import rerank as rr
from mmrec_core.catalog import Limits
from mmrec_core.session import MAX_UPLOAD_BYTES
from tests.test_app import home, new_app, ok  # noqa: F401  (fixture and helpers)

ROOT = Path(__file__).resolve().parents[1]


def upload(at, name: str, files: list[tuple[str, bytes, str]]):
    at.text_input(key="new_store_name").set_value(name)
    at.file_uploader(key="catalog_files").set_value(files)
    return at.form_submit_button[0].click().run()


def stores(home: Path) -> dict[str, str]:
    """Store name -> live version (hidden upload folders must be gone too)."""
    return {p.name: (p / "CURRENT").read_text() for p in (home / "stores").iterdir()}


def test_streamlit_and_the_app_share_one_upload_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_UPLOAD_BYTES  # Streamlit counts MB as 2**20 bytes


def test_catalog_over_the_item_limit_is_refused_and_the_open_store_kept(home):
    at = new_app({"q": "a round red ball"})
    at.switch_page("pages/catalog.py").run()
    ok(at)
    before = stores(home)
    items = at.metric[0].value
    n = Limits().max_items + 1
    csv = b"id,title\n" + b"".join(b"i%d,thing %d\n" % (i, i) for i in range(n))
    at = upload(at, "huge", [("catalog.csv", csv, "text/csv")])
    ok(at)
    assert [e.value for e in at.error] == [
        f"Could not add the catalog: catalog.csv has {n:,} rows; the limit is {n - 1:,} items per catalog"]
    assert stores(home) == before and at.session_state["view"].store == "demo"
    assert at.metric[0].value == items  # the gallery still shows the open store
    at.switch_page("pages/search.py").run()
    assert not at.error and "Red ball" in rr.titles(at)


def test_upload_over_the_size_limit_is_refused_and_the_open_store_kept(home):
    at = new_app()
    at.switch_page("pages/catalog.py").run()
    before = stores(home)
    # Each file is under Streamlit's per-file limit; together they are over the catalog limit.
    half = bytes(MAX_UPLOAD_BYTES // 2 + 2**20)
    files = [("catalog.csv", b"id,title,image\na,A,a.png\nb,B,b.png\n", "text/csv"),
             ("a.png", half, "image/png"), ("b.png", half, "image/png")]
    at = upload(at, "big", files)
    ok(at)
    limit = MAX_UPLOAD_BYTES // 2**20
    assert [e.value for e in at.error] == [
        f"Could not add the catalog: upload is {limit + 2} MB; the limit is {limit} MB for one catalog, all its files together"]
    assert stores(home) == before and at.session_state["view"].store == "demo"
