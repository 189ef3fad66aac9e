"""Catalog: the open store's counts, problems and gallery; add a catalog (upload -> ingest); stores on disk."""

from pathlib import Path

import pandas as pd
import streamlit as st

from mmrec_core import session
from mmrec_core.errors import MMRecError, StoreError
from mmrec_core.profile import category_of
from mmrec_core.store import open_store
from pages import _cards as cards
from pages import _ui as ui

ui.routed()

PAGE_SIZE = 24
ss = ui.ss


def add_catalog(name: str, files: list) -> None:
    """Stage the upload, ingest into a temporary store, then move it into place; nothing existing is touched."""
    root = session.stores_root()
    try:
        name = session.valid_store_name(name)
        if (root / name).exists():
            raise StoreError(f"a store named {name!r} exists already; choose another name")
        if not files:
            raise StoreError("choose a .zip catalog, or catalog.csv together with its media files")

        def build(dest: Path):
            src = session.stage_upload([(f.name, f.getvalue()) for f in files], dest.parent / "src")
            report = ui.ingest_with_progress(src, dest, f"Ingesting {name}")
            if not report.store.items:
                raise StoreError("the catalog has no usable items (is catalog.csv empty?); nothing was saved")
            return report

        report = ui.build_store_aside(name, build)
    except MMRecError as exc:
        st.error(f"Could not add the catalog: {exc}")
        return
    ui.open_store_view(name)
    summary = report.summary()
    ui.flash("success", f"Store {name!r}: {summary['items']} items ({', '.join(f'{m} {c}' for m, c in summary['counts'].items())}), "
                        f"{summary['problems']} problem(s), {summary['seconds']} s. It is now the open store.")
    st.rerun()


st.title("Catalog")
tab_items, tab_problems, tab_add, tab_stores = st.tabs(["Items", "Problems", "Add a catalog", "Stores on disk"])

with tab_add:
    st.markdown("Upload a **.zip** holding `catalog.csv` and its media, or **catalog.csv plus its media files** "
                "(columns `id,title,description,image,audio,video,tags`; media paths relative to the CSV). "
                "A video's frames join the image side and its soundtrack the audio side. "
                "Bad rows and files are reported and skipped; the rest is kept.")
    with st.form("add-catalog", clear_on_submit=False):
        name = st.text_input("Name of the new store", value="my-catalog", max_chars=40, key="new_store_name")
        files = st.file_uploader("Catalog files", accept_multiple_files=True, key="catalog_files",
                                 type=["zip", "csv", "png", "jpg", "jpeg", "webp", "gif", "bmp", "wav", "ogg", "flac", "mp3",
                                       "mp4", "webm", "ogv", "mkv", "mov"])
        submitted = st.form_submit_button("Ingest", type="primary")
    if submitted:
        add_catalog(name, files or [])
    if ss.view.store != ui.VIDEO_DEMO_STORE and (ui.VIDEO_DEMO_SRC / "catalog.csv").is_file():
        st.caption("Or try video: 30 short real clips from Debian packages (see assets/video/SOURCES.md).")
        if st.button("Open the video demo", icon=":material/movie:", key="video-demo"):
            try:
                ui.open_video_demo()
            except MMRecError as exc:
                st.error(f"Could not build the video demo: {exc}")
            else:
                st.rerun()
    if ss.view.store != session.DEFAULT_STORE:
        st.button("Back to the built-in demo catalog", on_click=ui.set_view, kwargs={"store": session.DEFAULT_STORE, "items": ()})

with tab_stores:
    rows = []
    for path_name in ui.store_names():
        try:
            s = open_store(session.stores_root() / path_name)
            rows.append({"store": path_name, "items": len(s.items), **s.counts(), "problems": len(s.report),
                         "version": s.version, "created": s.manifest.get("created"), "encoder": s.encoder})
        except MMRecError as exc:
            rows.append({"store": path_name, "problems": str(exc)})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("Switch store with the picker in the sidebar.")

eng = ui.require_engine()
store = eng.store
with tab_items:
    counts = store.counts()
    cols = st.columns(6)
    cols[0].metric("Items", len(store.items))
    for col, m in zip(cols[1:], ("text", "image", "audio", "video")):
        col.metric(f"with {m}", counts.get(m, 0))
    cols[5].metric("Problems", len(store.report))
    st.caption(f"Store {store.path.name} · version {store.version} · encoder {store.encoder}")
    f1, f2, f3 = st.columns([3, 2, 1])
    needle = f1.text_input("Filter by title or tag", key="gallery_filter").strip().lower()
    cats = sorted({category_of(it) for it in store.items})
    cat = f2.selectbox("Category", ["(all)", *cats], key="gallery_cat")
    shown = [it for it in store.items
             if (cat == "(all)" or category_of(it) == cat)
             and (not needle or needle in (it.get("title") or "").lower() or any(needle in t.lower() for t in it.get("tags", [])))]
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    ss.gallery_page = min(ss.get("gallery_page", 1), pages)  # a narrower filter may have fewer pages
    page = f3.number_input(f"Page (of {pages})", 1, pages, key="gallery_page")
    st.caption(f"{len(shown)} item(s)")
    chunk = shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    for col, item in zip(cards.grid(len(chunk)), chunk):
        with col:
            cards.card(store, item, heading=item.get("title") or item["id"],
                    lines=[session.md_escape(", ".join(item.get("tags", [])) or "(no tags)")], key=f"gal-{item['id']}")

with tab_problems:
    if not store.report:
        st.success("Every item was ingested without problems.")
    else:
        report = pd.DataFrame(store.report, columns=["id", "modality", "reason"])
        st.dataframe(report.groupby("modality").size().rename("problems").reset_index(), hide_index=True)
        st.dataframe(report, hide_index=True, height=400)
