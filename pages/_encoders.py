"""The sidebar's encoder picker and the panel that encodes the open catalog with another encoder.

A store is encoded with one encoder; another encoder of the same catalog is another store
(`demo`, `demo-bridge`, ...). Picking an encoder opens that store, or offers to build it from the
current store's items and media (mmrec_core.ingest.catalog_of_store), with a progress bar.
"""

from __future__ import annotations

import streamlit as st

from mmrec_core import session
from mmrec_core.encoders import DEFAULT_ENCODER, get_encoders, spec_of_vectors
from mmrec_core.encoders.aligned import current_digest
from mmrec_core.errors import MMRecError, StoreError
from mmrec_core.store import Store
from pages import _state as state
from pages import _access as access
from pages import _stores as stores

ss = st.session_state

ENCODER_LABELS = {"aligned+aisfx": "aligned · aisfx audio (default)", "aligned": "aligned · librosa audio",
                  "bridge": "bridge (ImageNet labels) · librosa audio", "openclip": "open_clip checkpoint…"}


def encoder_choice(spec: str) -> str:
    """The sidebar option for a store's spec: itself, or 'openclip' for any open_clip model."""
    return "openclip" if spec.startswith("openclip:") else spec


def store_spec(store: Store) -> str:
    """The encoder spec a store was built with (e.g. 'aligned', 'bridge', 'openclip:ViT-B-32@/path')."""
    return str(store.manifest["encoder"].get("spec") or store.encoder)


def _spec_of(name: str) -> str | None:
    path = session.stores_root() / name
    try:
        return store_spec(stores._engine(str(path), (path / "CURRENT").read_text().strip()).store)
    except (OSError, MMRecError):
        return None


def variant_target(spec: str) -> str:
    """The store name holding the current catalog encoded with `spec` (it may not exist yet)."""
    names = stores.store_names()
    current = ss.view.store
    base = session.base_of(current, _spec_of(current) or "", names)
    return base if _spec_of(base) == spec else session.variant_name(base, spec)


def _on_encoder() -> None:
    choice = ss.w_encoder
    if choice == "openclip":
        ss.encode_request = "openclip"
        return
    target = variant_target(choice)
    if target in stores.store_names():
        stores.open_store_view(target)
    else:
        ss.encode_request = choice


def encode_panel() -> None:
    """After an encoder switch to one this catalog has no store for: offer to encode it (with progress)."""
    request = ss.get("encode_request")
    eng = stores.engine() if request else None
    if not request or eng is None:
        return
    with st.container(border=True):
        spec = request
        if request == "openclip":
            st.markdown("**Encode this catalog with an open_clip model.** A local checkpoint works offline: "
                        "`openclip:ARCH@/path/to/checkpoint.safetensors`; a hub tag "
                        "(`openclip:ViT-B-32/laion2b_s34b_b79k`) needs internet and fails within seconds without it.")
            spec = st.text_input("open_clip model", key="w_openclip_spec", placeholder="openclip:ViT-B-32@/path/to/model.safetensors").strip()
        target = variant_target(spec) if spec and spec != "openclip" else None
        n = eng.store.n_items
        st.markdown(f"Store **{session.md_escape(ss.view.store)}** was built with `{store_spec(eng.store)}`. "
                    + (f"Encoding its {n} items with `{spec}` makes a new store **{target}**; the current one is kept. "
                       "Cached and shipped embeddings are reused, the rest is computed (a few images per second on a slow CPU)."
                       if target else ""))
        go, cancel = st.columns([1, 5])
        if go.button("Encode", type="primary", disabled=target is None, key="encode_go"):
            encode_variant(eng.store, spec, target)
        if cancel.button("Cancel", key="encode_cancel"):
            ss.encode_request = None
            st.rerun()


def checkpoint_notice() -> None:
    """A store encoded with an earlier `aligned` checkpoint: it answers with that checkpoint; offer the current one."""
    eng = stores.engine()
    if eng is None or ss.get("encode_request"):
        return
    spec, vectors = store_spec(eng.store), spec_of_vectors(eng.store.manifest["encoder"])
    if vectors == spec:
        return
    target = session.valid_store_name(f"{ss.view.store[:30]}-{current_digest()}")
    with st.container(border=True):
        st.markdown(f"Store **{session.md_escape(ss.view.store)}** was encoded with an earlier `aligned` checkpoint "
                    f"(`{vectors.split('+')[0]}`); queries use that checkpoint, so it works as before. The current one "
                    "finds much more on media it never saw (assets/aligned/EVAL.md). Re-encoding makes a new store "
                    f"**{target}**; this one is kept.")
        if target in stores.store_names():
            if st.button(f"Open {target}", key="checkpoint_open"):
                stores.open_store_view(target)
                st.rerun()
        elif st.button("Re-encode with the current checkpoint", key="checkpoint_go"):
            encode_variant(eng.store, spec, target)


def encode_variant(store: Store, spec: str, target: str) -> None:
    """Encode `store`'s items with `spec` into a new store `target` (built aside, then moved in), and open it."""
    from mmrec_core.ingest import catalog_of_store

    root = session.stores_root()
    try:
        access.require_editor("Encoding a store with another encoder")
        if spec.startswith("openclip") and ":" not in spec:
            raise StoreError("name the open_clip model: openclip:ARCH@/path/to/checkpoint or openclip:ARCH/TAG")
        if (root / target).exists():
            raise StoreError(f"a store named {target!r} exists already")
        with st.spinner(f"Loading encoder {spec}"):
            get_encoders(spec)  # fails fast (unknown name, missing or bad checkpoint, offline hub) before any work
        report = stores.build_store_aside(target, lambda dest: stores.ingest_with_progress(
            catalog_of_store(store), dest, f"Encoding with {spec}", encoder=spec))
    except MMRecError as exc:
        st.error(f"Could not encode with {spec}: {exc}")
        return
    stores.open_store_view(target)
    state.flash("success", f"Store {target!r}: {report.store.n_items} items encoded with {spec} in {report.seconds:.1f} s "
                     f"({sum(report.encoded.values())} computed, {sum(report.cached.values())} from the cache).")
    st.rerun()


def encoder_picker() -> None:
    """The sidebar's encoder select box (inside st.sidebar) and the active encoder's spec."""
    spec = _spec_of(ss.view.store) or DEFAULT_ENCODER
    ss.w_encoder = ss.get("encode_request") or encoder_choice(spec)
    choices = list(dict.fromkeys([*ENCODER_LABELS, ss.w_encoder]))  # a spec made elsewhere (CLI) is shown too
    st.selectbox("Encoder", choices, key="w_encoder", format_func=lambda c: ENCODER_LABELS.get(c, c), on_change=_on_encoder,
                 help="Text and image embeddings of this catalog. Another encoder means another store of the same "
                      "items: switching opens it, or offers to build it.")
    st.caption(f"Active encoder: `{spec}`")
