"""Catalog: the open store's counts, problems and gallery; add a catalog (upload -> ingest); stores on disk."""

from pathlib import Path

import pandas as pd
import streamlit as st

from mmrec_core import insight, session
from mmrec_core.errors import MMRecError, ReadOnlyStoreError, StoreError
from mmrec_core.store import open_store, set_read_only
from pages import _access as access
from pages import _cards as cards
from pages import _state as state
from pages import _stores as stores
from pages import _ui as ui

state.routed()

PAGE_SIZE = 24
ss = ui.ss


def add_catalog(name: str, files: list) -> None:
    """Stage the upload, ingest into a temporary store, then move it into place; nothing existing is touched."""
    root = session.stores_root()
    try:
        access.check_upload(sum(f.size for f in files))
        name = session.valid_store_name(name)
        if (root / name).exists():
            raise StoreError(f"a store named {name!r} exists already; choose another name")
        if not files:
            raise StoreError("choose a .zip catalog, or catalog.csv together with its media files")

        def build(dest: Path):
            src = session.stage_upload([(f.name, f.getvalue()) for f in files], dest.parent / "src")
            report = stores.ingest_with_progress(src, dest, f"Ingesting {name}")
            if not report.store.n_items:
                raise StoreError("the catalog has no usable items (is catalog.csv empty?); nothing was saved")
            return report

        report = stores.build_store_aside(name, build)
    except MMRecError as exc:
        st.error(f"Could not add the catalog: {exc}")
        return
    access.mark_owner(name)
    stores.open_store_view(name)
    summary = report.summary()
    state.flash("success", f"Store {name!r}: {summary['items']} items ({', '.join(f'{m} {c}' for m, c in summary['counts'].items())}), "
                        f"{summary['problems']} problem(s), {summary['seconds']} s. It is now the open store.")
    fresh_uploader()
    st.rerun()


def add_to_store(name: str, files: list) -> None:
    """Encode the upload with the store's encoder and add its items to the open store in place."""
    try:
        if access.read_only(name):
            raise ReadOnlyStoreError(f"store {name} is read-only")
        access.check_upload(sum(f.size for f in files))
        if not files:
            raise StoreError("choose a .zip catalog, or catalog.csv together with its media files")
        report = stores.add_with_progress(name, [(f.name, f.getvalue()) for f in files])
    except MMRecError as exc:
        st.error(f"Could not add to {name!r}: {exc}. The store is unchanged.")
        return
    change = report.change
    ss.search_cache = {}
    state.flash("success", f"Store {name!r}: {change.added} item(s) added, {change.replaced} replaced; "
                        f"{report.store.n_items:,} items now ({len(report.problems)} problem(s), {report.seconds:.1f} s). "
                        + ("Index: " + "; ".join(f"{m} {note}" for m, note in change.index.items()) if change.index else ""))
    fresh_uploader()
    st.rerun()


st.title("Catalog")
tab_items, tab_problems, tab_add, tab_stores = st.tabs(["Items", "Problems", "Add a catalog", "Stores on disk"])


def delete_store(name: str) -> None:
    """Delete a store for good (an editor, after confirming; never a read-only one)."""
    try:
        access.require_editor("Deleting a store")
        if access.read_only(name):
            raise ReadOnlyStoreError(f"store {name} is read-only: make it writable first")
        stores.delete_store(name)
    except MMRecError as exc:
        st.error(f"Could not delete {name!r}: {exc}")
        return
    state.flash("success", f"Store {name!r} deleted.")
    st.rerun()


def stores_admin() -> None:
    """Editors: mark a store read-only or writable, delete one (with confirmation)."""
    names = [n for n in stores.store_names() if not (access.settings().shared and n in access.DEMOS)]
    if not names:
        return
    pick, what, go = st.columns([2, 2, 1], vertical_alignment="bottom")
    name = pick.selectbox("Store", names, key="admin_store")
    ro = access.read_only(name)
    action = what.selectbox("Action", ["Make writable" if ro else "Make read-only", "Delete…"], key="admin_action")
    if action == "Delete…":
        sure = st.checkbox(f"Yes, delete {name} and its files for good", key=f"admin_sure_{name}", disabled=ro)
        if go.button("Delete", type="primary", disabled=ro or not sure, key="admin_delete"):
            delete_store(name)
    elif go.button("Apply", key="admin_apply"):
        try:
            access.require_editor("Changing a store")
            who = getattr(access.current_user(), "name", "an editor (local mode)")
            set_read_only(session.stores_root() / name, not ro, note=f"marked read-only in the dashboard by {who}")
        except MMRecError as exc:
            st.error(str(exc))
        else:
            st.rerun()


def fresh_uploader() -> None:
    """After a catalog is stored: the next upload starts from no files (the uploader gets a new key)."""
    ss.upload_round = ss.get("upload_round", 0) + 1


def upload_key() -> str:
    """The uploader's key: catalog_files, then catalog_files_N after the N-th stored catalog (fresh_uploader)."""
    return "catalog_files" + (f"_{ss.upload_round}" if ss.get("upload_round") else "")


def add_form() -> None:
    """Upload a catalog into a new store or into the open one (editors; never into a read-only store)."""
    st.markdown("Upload a **.zip** holding `catalog.csv` and its media, or **catalog.csv plus its media files** "
                "(columns `id,title,description,image,audio,video,tags`; media paths relative to the CSV). "
                "A video's frames join the image side and its soundtrack the audio side. "
                "Bad rows and files are reported and skipped; the rest is kept.")
    ro = access.read_only(ss.view.store)
    targets = ["A new store"] + ([] if ro else [f"Add to this store ({ss.view.store})"])
    target = st.radio("Where to", targets, key="add_target",
                      horizontal=True, help="Adding encodes only the new items, with the store's own encoder; an id the "
                      "store holds already is replaced. The store keeps its index (no rebuild unless it has drifted).")
    if ro:
        st.caption(f"Store {ss.view.store} is read-only: nothing can be added to it or removed from it.")
    into_open = target != "A new store"
    with st.form("add-catalog", clear_on_submit=False):
        name = st.text_input("Name of the new store", value="my-catalog", max_chars=40, key="new_store_name",
                             disabled=into_open)
        files = st.file_uploader("Catalog files", accept_multiple_files=True, key=upload_key(),
                                 type=["zip", "csv", "png", "jpg", "jpeg", "webp", "gif", "bmp", "wav", "ogg", "flac", "mp3",
                                       "mp4", "webm", "ogv", "mkv", "mov"])
        submitted = st.form_submit_button("Add the items" if into_open else "Ingest", type="primary")
    if submitted:
        (add_to_store if into_open else add_catalog)(ss.view.store if into_open else name, files or [])


with tab_add:
    if access.can_edit():
        add_form()
    else:
        st.info("Viewers search, tune the weights, keep a profile and explore every page; adding catalogs is for "
                "editors (sign in from the sidebar).")
    built = stores.VIDEO_DEMO_STORE in stores.store_names()
    if (ss.view.store != stores.VIDEO_DEMO_STORE and (stores.VIDEO_DEMO_SRC / "catalog.csv").is_file()
            and (built or access.can_edit())):
        st.caption("Or try video: 30 short real clips from Debian packages (see assets/video/SOURCES.md).")
        if st.button("Open the video demo", icon=":material/movie:", key="video-demo"):
            try:
                stores.open_video_demo()
            except MMRecError as exc:
                st.error(f"Could not build the video demo: {exc}")
            else:
                st.rerun()
    if ss.view.store != session.DEFAULT_STORE:
        st.button("Back to the built-in demo catalog", on_click=state.set_view, kwargs={"store": session.DEFAULT_STORE, "items": ()})

with tab_stores:
    rows = []
    for path_name in stores.store_names():
        try:
            s = open_store(session.stores_root() / path_name)
            rows.append({"store": path_name, "items": s.n_items, **s.counts(), "problems": len(s.report),
                         "version": s.version, "created": s.manifest.get("created"), "encoder": s.encoder,
                         "read-only": access.read_only(path_name)})
        except MMRecError as exc:
            rows.append({"store": path_name, "problems": str(exc)})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption("Switch store with the picker in the sidebar.")
    if access.can_edit():
        stores_admin()

eng = ui.require_engine()
store = eng.store
with tab_items:
    counts = store.counts()
    cols = st.columns(6)
    cols[0].metric("Items", f"{store.n_items:,}")
    for col, m in zip(cols[1:], ("text", "image", "audio", "video")):
        col.metric(f"with {m}", f"{counts.get(m, 0):,}")
    cols[5].metric("Problems", len(store.report))
    st.caption(f"Store {store.path.name} · version {store.version} · encoder {store.encoder}")
    with st.spinner(f"Reading the categories of {store.n_items:,} items (once per store version)…"):
        facets = insight.facets(store)
    f1, f2, f3 = st.columns([3, 2, 1])
    needle = f1.text_input("Filter by title or tag", key="gallery_filter").strip()
    cats = facets.categories()
    cat = f2.selectbox("Category", ["(all)", *(c for c, _ in cats)], key="gallery_cat",
                       format_func=lambda c: c if c == "(all)" else f"{c} ({dict(cats)[c]:,})")
    shown = facets.rows(needle=needle, category=None if cat == "(all)" else cat)
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    ss.gallery_page = min(ss.get("gallery_page", 1), pages)  # a narrower filter may have fewer pages
    page = f3.number_input(f"Page (of {pages:,})", 1, pages, key="gallery_page")
    st.caption(f"{len(shown):,} item(s)")
    chunk = [store.items[int(r)] for r in shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]]
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
