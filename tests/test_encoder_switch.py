"""One catalog, several encoders: re-encoding a store (library, CLI) and switching encoder in the dashboard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmrec_core.encoders import DEFAULT_ENCODER
from mmrec_core.errors import StoreError
from mmrec_core.session import base_of, encoder_slug, variant_name
from tests.test_app import home, new_app, ok  # noqa: F401  (fixture and helpers)
from tests.test_encoders import tiny_clip_checkpoint  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]


def test_variant_names_are_valid_store_names_and_reversible():
    assert DEFAULT_ENCODER == "aligned+aisfx"
    assert variant_name("demo", "aligned") == "demo-aligned" and variant_name("demo", "aligned+aisfx") == "demo-aligned-aisfx"
    assert variant_name("demo", "bridge") == "demo-bridge"
    assert base_of("demo-bridge", "bridge", ["demo", "demo-bridge"]) == "demo"
    assert base_of("demo-bridge", "bridge", ["demo-bridge"]) == "demo-bridge"  # no base on disk: its own catalog
    a, b = "openclip:ViT-B-32/laion2b_s34b_b79k", "openclip:ViT-B-32@/models/b32.safetensors"
    assert encoder_slug(a) != encoder_slug(b) and encoder_slug(a).startswith("openclip-ViT-B-32-")
    long = variant_name("x" * 40, b)
    assert len(long) <= 40 and long.endswith(encoder_slug(b))
    with pytest.raises(StoreError):
        variant_name("", "bridge")


def test_reencoding_a_store_keeps_items_media_and_changes_only_the_encoder(tiny_store, tmp_path):
    from mmrec_core.ingest import catalog_of_store, ingest

    store = tiny_store.store
    assert store.manifest["encoder"]["spec"] == DEFAULT_ENCODER
    report = ingest(catalog_of_store(store), tmp_path / "tiny-bridge", encoder="bridge")
    other = report.store
    assert other.manifest["encoder"]["spec"] == "bridge" and other.encoder == "bridge"
    assert other.ids == store.ids and other.counts() == store.counts()
    assert [it["title"] for it in other.items] == [it["title"] for it in store.items]
    assert [it["metadata"] for it in other.items] == [it["metadata"] for it in store.items]
    for a, b in zip(store.items, other.items):
        for m in ("image", "audio"):
            assert (a[m] is None) == (b[m] is None)
            if a[m]:
                assert store.media_path(a[m]).read_bytes() == other.media_path(b[m]).read_bytes()
    assert other.manifest["encoder"]["text"] != store.manifest["encoder"]["text"]  # bridge's MiniLM, not aligned's head
    rows = np.flatnonzero(np.abs(store.embeddings["text"]).sum(1) > 0)[:5]
    assert not np.allclose(other.embeddings["text"][rows], store.embeddings["text"][rows], atol=1e-3)
    assert other.embeddings["audio"].shape[1] == 92 != store.embeddings["audio"].shape[1]  # librosa, not aisfx
    again = ingest(catalog_of_store(store), tmp_path / "tiny-again", encoder=DEFAULT_ENCODER)
    assert sum(again.encoded.values()) == 0  # everything came from the cache
    for m in ("text", "image", "audio"):
        np.testing.assert_allclose(again.store.embeddings[m], store.embeddings[m], atol=1e-6)


def test_cli_ingest_of_a_store_reencodes_it(tiny_store, tmp_path):
    out = subprocess.run([sys.executable, "-m", "mmrec_core", "ingest", str(tiny_store.store.path),
                          "--store", str(tmp_path / "again"), "--encoder", "bridge", "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.splitlines()[-1])
    assert summary["encoder"] == "bridge" and summary["items"] == len(tiny_store.store.items)
    assert summary["problems"] == 0  # the store holds only good items


def test_dashboard_shows_the_encoder_and_switches_between_stores(home):  # noqa: F811
    at = new_app({"q": "a round red ball"})
    ok(at)
    assert at.sidebar.selectbox(key="w_encoder").value == DEFAULT_ENCODER
    assert any(f"Active encoder: `{DEFAULT_ENCODER}`" in c.value for c in at.sidebar.caption)
    before = at.session_state["search_cache"]["cands"]

    at.sidebar.selectbox(key="w_encoder").set_value("bridge").run()
    ok(at)
    assert at.session_state["encode_request"] == "bridge" and at.session_state["view"].store == "demo"
    assert any("demo-bridge" in m.value for m in at.markdown)  # the panel names the store it will make
    at.button(key="encode_go").click().run()
    ok(at)
    assert at.session_state["view"].store == "demo-bridge" and at.session_state["encode_request"] is None
    assert (home / "stores" / "demo-bridge" / "CURRENT").is_file()
    assert any("Active encoder: `bridge`" in c.value for c in at.sidebar.caption)
    assert any("encoded with bridge" in s.value for s in at.success)
    assert at.query_params["store"] == "demo-bridge"
    after = at.session_state["search_cache"]["cands"]  # the query ran again against the other store's vectors
    assert after is not before and not np.allclose(after.sims, before.sims)

    # back to the default: the store exists, so it just opens (no panel, nothing encoded)
    at.sidebar.selectbox(key="w_encoder").set_value(DEFAULT_ENCODER).run()
    ok(at)
    assert at.session_state["view"].store == "demo" and at.session_state["encode_request"] is None
    at.sidebar.selectbox(key="w_encoder").set_value("bridge").run()
    assert at.session_state["view"].store == "demo-bridge"


def test_dashboard_encodes_with_a_local_open_clip_checkpoint_and_refuses_a_bad_one(home, tiny_clip_checkpoint,  # noqa: F811
                                                                                    monkeypatch):
    monkeypatch.setenv("MMREC_OPENCLIP_CONFIGS", str(tiny_clip_checkpoint / "configs"))
    at = new_app()
    ok(at)
    at.sidebar.selectbox(key="w_encoder").set_value("openclip").run()
    ok(at)
    assert at.button(key="encode_go").disabled  # no model named yet
    at.text_input(key="w_openclip_spec").input("openclip:mmrec-tiny-test@/no/such/model.pt").run()
    at.button(key="encode_go").click().run()
    ok(at)
    assert any("Could not encode" in e.value for e in at.error)
    assert at.session_state["view"].store == "demo"
    assert not [p for p in (home / "stores").iterdir() if p.name.startswith("demo-openclip")]

    spec = f"openclip:mmrec-tiny-test@{tiny_clip_checkpoint / 'tiny.pt'}"
    at.text_input(key="w_openclip_spec").input(spec).run()
    at.button(key="encode_go").click().run()
    ok(at)
    target = variant_name("demo", spec)
    assert at.session_state["view"].store == target
    assert any(f"Active encoder: `{spec}`" in c.value for c in at.sidebar.caption)
    assert at.sidebar.selectbox(key="w_encoder").value == "openclip"


def _as_written_before(store_path: Path) -> None:
    """Record the encoder as stores made before this checkpoint did: spec 'aligned+aisfx', names with the old digest."""
    for manifest in store_path.glob("versions/*/manifest.json"):
        m = json.loads(manifest.read_text())
        m["encoder"].update(name=DEFAULT_ENCODER, spec=DEFAULT_ENCODER)
        manifest.write_text(json.dumps(m))


def test_a_store_of_the_earlier_checkpoint_keeps_answering_and_the_dashboard_offers_the_new_one(home, tiny_catalog):  # noqa: F811
    from mmrec_core.encoders.aligned import current_digest
    from mmrec_core.encoders import spec_of_vectors
    from mmrec_core.retrieval import Weights
    from mmrec_core.ingest import add, ingest
    from mmrec_core.query import Engine, Query
    from mmrec_core.store import open_store

    old = "8bd132ed8e"  # the first aligned checkpoint, still shipped beside the current one
    assert old != current_digest()
    path = home / "stores" / "old"
    ingest(tiny_catalog, path, encoder=f"aligned:{old}+aisfx")
    _as_written_before(path)
    store = open_store(path)
    assert store.manifest["encoder"]["text"] == f"aligned-{old}+minilm-l6-v2"
    assert spec_of_vectors(store.manifest["encoder"]) == f"aligned:{old}+aisfx" and store.manifest["dims"]["text"] == 768
    hits = Engine(store).search(Query(text="a round red ball"), Weights.from_alpha(0.5), k=3)
    assert hits[0].id == "red"  # queries are encoded with the store's own checkpoint
    grown = add(tiny_catalog, path)  # items added later are encoded with it too; the record stays
    assert grown.store.manifest["encoder"]["spec"] == DEFAULT_ENCODER
    assert grown.store.manifest["encoder"]["text"] == f"aligned-{old}+minilm-l6-v2"

    at = new_app({"store": "old"})
    ok(at)
    assert any("earlier `aligned` checkpoint" in m.value for m in at.markdown)
    at.button(key="checkpoint_go").click().run()
    ok(at)
    target = f"old-{current_digest()}"
    assert at.session_state["view"].store == target
    new = open_store(home / "stores" / target)
    assert spec_of_vectors(new.manifest["encoder"]) == DEFAULT_ENCODER and new.n_items == store.n_items
    assert new.manifest["encoder"]["text"] == f"aligned-{current_digest()}+minilm-l6-v2"
    assert not any("earlier `aligned` checkpoint" in m.value for m in at.markdown)
