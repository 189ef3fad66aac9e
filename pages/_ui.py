"""Streamlit glue shared by app.py and the pages: session state, cached engines, sidebar, the search query.

Canonical state lives in plain st.session_state keys set once in init_state(); widgets have their
own keys ("w_...") that are refreshed from the canonical state before they are drawn, and their
callbacks only call pure functions from mmrec_core.session / mmrec_core.profile.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, TypeVar

# Imported in full before any page draws: plotly peeks at sys.modules["pandas"] without importing it, so a
# session drawing a chart while another session is still importing pandas met a half-made module.
import pandas  # noqa: F401
import streamlit as st

from mmrec_core import profile as prof
from mmrec_core import session
from mmrec_core.catalog import Catalog
from mmrec_core.encoders import DEFAULT_ENCODER
from mmrec_core.errors import MMRecError
from mmrec_core.fusion import MODALITIES, list_strategies
from mmrec_core.query import Engine, Hit, Query
from mmrec_core.search import Candidates, rank
from mmrec_core.store import Store, list_stores, open_store, sweep_stale_uploads

APP_FILE = Path(__file__).resolve().parents[1] / "app.py"
DEMO_SRC = APP_FILE.parent / "assets" / "demo"
VIDEO_DEMO_SRC, VIDEO_DEMO_STORE = APP_FILE.parent / "assets" / "video", "videos"
MAX_QUERY_MEDIA_BYTES = {"image": 20 * 2**20, "audio": 20 * 2**20, "video": 100 * 2**20}
QUERY_MEDIA = ("image", "audio", "video")
ss = st.session_state
T = TypeVar("T")


# ---------- state ----------

def routed() -> None:
    """Make sure the page runs inside the router (app.py); call it first in every page.

    With a pages/ folder next to app.py, a fresh Streamlit process (and every AppTest run) starts in the
    legacy multipage mode until st.navigation is first called, so a first request for /catalog runs
    pages/catalog.py alone. Running app.py here sets up state and sidebar, and its st.navigation picks
    this same page from the URL and runs it; then this outer run stops.
    """
    if ss.get("_router_active"):
        return
    import runpy

    runpy.run_path(str(APP_FILE), run_name="__main__")
    st.stop()


def init_state() -> None:
    """Canonical per-user state, set once per session; the first run reads the view from the URL."""
    if "view" not in ss:
        view, problems = session.from_params({k: st.query_params.get_all(k) for k in st.query_params})
        ss.view = view
        ss.link_problems = problems
        ss.url_page = st.query_params.get("page")
    ss.setdefault("profiles", {})  # store name -> Profile (item ids belong to one store)
    ss.setdefault("query_media", dict.fromkeys(QUERY_MEDIA))  # kind -> (file name, bytes)
    ss.setdefault("uploader_gen", 0)  # part of the query uploaders' keys: a new value empties them
    ss.setdefault("search_cache", {})  # {"key": ..., "cands": Candidates | None, "error": str | None}
    ss.setdefault("flash", [])  # (kind, message) shown once on the next run
    ss.setdefault("encode_request", None)  # an encoder the current catalog has no store for yet


def set_view(**changes: Any) -> None:
    ss.view = replace(ss.view, **changes)


def get_profile() -> prof.Profile:
    return ss.profiles.get(ss.view.store, prof.Profile())


def update_profile(fn: Callable[..., prof.Profile], *args: Any) -> None:
    """Apply a pure profile function (like, dislike, forget, ...) to the current store's profile."""
    ss.profiles = {**ss.profiles, ss.view.store: fn(get_profile(), *args)}


def flash(kind: str, message: str) -> None:
    ss.flash = [*ss.flash, (kind, message)]


def show_flash() -> None:
    for kind, message in ss.flash:
        getattr(st, kind)(message)
    ss.flash = []
    for p in ss.get("link_problems", []):
        st.warning(p)
    ss.link_problems = []


def sync_url(page: str) -> None:
    """Write the view into the URL so that pasting the link reproduces it."""
    ss.view = replace(ss.view, page=page)
    want = {k: v if isinstance(v, list) else [v] for k, v in session.to_params(ss.view).items()}
    have = {k: st.query_params.get_all(k) for k in st.query_params}
    if want != have:
        st.query_params.from_dict(session.to_params(ss.view))


# ---------- stores and engines ----------

@st.cache_resource(show_spinner=False, max_entries=8)
def _engine(path: str, version: str) -> Engine:
    """One Engine per store version, shared by every session (it is read-only and thread-safe)."""
    return Engine(open_store(path))


@st.cache_resource(show_spinner=False)
def _build_lock() -> threading.Lock:
    return threading.Lock()


@st.cache_resource(show_spinner=False)
def _swept(root: str) -> int:
    """Once per process: remove work folders a killed upload or ingest left behind."""
    return len(sweep_stale_uploads(Path(root)))


def open_store_view(name: str) -> None:
    """Show store `name` from the next run on: its own search, no pending encoder request."""
    set_view(store=name, items=())
    ss.search_cache = {}
    ss.encode_request = None


def build_store_aside(name: str, build: Callable[[Path], T]) -> T:
    """Run build(folder) to write a new store in a work folder under the stores root, then move it in as `name`.

    The caller makes sure `name` is free. Nothing is moved if build raises; a killed build leaves only a
    `.upload-*` work folder, which sweep_stale_uploads removes later.
    """
    root = session.stores_root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".upload-") as tmp:
        result = build(Path(tmp) / "store")
        shutil.move(Path(tmp) / "store", root / name)
    return result


def open_video_demo() -> None:
    """Button callback's work: build the 'videos' store from assets/video once (with progress), then open it."""
    if not (session.stores_root() / VIDEO_DEMO_STORE / "CURRENT").is_file():
        with _build_lock():
            if not (session.stores_root() / VIDEO_DEMO_STORE / "CURRENT").is_file():
                build_store_aside(VIDEO_DEMO_STORE, lambda dest: ingest_with_progress(
                    VIDEO_DEMO_SRC, dest, "Building the video demo (30 clips: frames and soundtracks)"))
    open_store_view(VIDEO_DEMO_STORE)


def store_names() -> list[str]:
    _swept(str(session.stores_root()))
    return [p.name for p in list_stores(session.stores_root())]


def ingest_with_progress(src: Path | Catalog, dest: Path, label: str, encoder: str = DEFAULT_ENCODER):
    """Run ingest with a progress bar; returns the IngestReport (MMRecError propagates)."""
    from mmrec_core.ingest import ingest

    bar = st.progress(0.0, text=f"{label}: reading the catalog")

    def progress(stage: str, done: int, total: int) -> None:
        order = {"text": 0, "image": 1, "audio": 2, "video": 3, "store": 4}.get(stage, 0)
        frac = (order + (done / total if total else 1.0)) / 5
        bar.progress(min(frac, 1.0), text=f"{label}: {stage} {done}/{total}")

    report = ingest(src, dest, encoder=encoder, progress=progress)
    bar.empty()
    return report


def add_with_progress(name: str, files: list[tuple[str, bytes]]):
    """Stage uploaded files and add their items to store `name` in place, with a progress bar; the IngestReport."""
    from mmrec_core.ingest import add

    path = session.stores_root() / name
    with tempfile.TemporaryDirectory(dir=path, prefix=".upload-") as tmp:
        src = session.stage_upload(files, Path(tmp) / "src")
        bar = st.progress(0.0, text=f"Adding to {name}: reading the catalog")

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(done / total if total else 1.0, 1.0), text=f"Adding to {name}: {stage} {done}/{total}")

        report = add(src, path, progress=progress)
        bar.empty()
    return report


def engine() -> Engine | None:
    """The Engine of the current store; builds the demo store on first start; None if there is no store."""
    name = ss.view.store
    path = session.stores_root() / name
    if not (path / "CURRENT").is_file() and name == session.DEFAULT_STORE and (DEMO_SRC / "catalog.csv").is_file():
        with _build_lock():
            if not (path / "CURRENT").is_file():
                note = st.empty()
                note.info("First start: building the demo store from assets/demo (once; seconds with the shipped embeddings).")
                try:
                    ingest_with_progress(DEMO_SRC, path, "Building the demo store")
                    note.empty()
                except MMRecError as exc:
                    note.error(f"Could not build the demo store: {exc}")
    if not (path / "CURRENT").is_file():
        others = store_names()
        if not others:
            return None
        st.warning(f"Store {name!r} was not found; showing {others[0]!r} instead.")
        set_view(store=others[0], items=())
        path = session.stores_root() / others[0]
    try:
        return _engine(str(path), (path / "CURRENT").read_text().strip())
    except MMRecError as exc:
        st.error(f"Cannot open store {ss.view.store!r}: {exc}")
        return None


def require_engine() -> Engine:
    """The current Engine, or stop the page with a hint to add a catalog."""
    eng = engine()
    if eng is None or not eng.store.n_items:
        if ss.get("_controls_pending"):  # the page would have drawn them after this (sidebar(controls=False))
            view_controls()
        if eng is None:
            st.info("No store is open. Add a catalog on the Catalog page.")
        else:
            st.warning(f"Store {ss.view.store!r} holds no items. Add a catalog on the Catalog page.")
        st.stop()
    return eng


# ---------- sidebar ----------

def _from_widget(widget: str, fn: Callable) -> None:
    ss.view = fn(ss.view, ss[widget])


def _on_store() -> None:
    open_store_view(ss.w_store)


def sidebar(*, controls: bool = True) -> None:
    """The controls every page shares: store, encoder, then alpha, per-modality weights, fusion strategy and K.

    With controls=False the page draws alpha ... K itself with view_controls(), from the fragment that holds its
    results: moving them then reruns that fragment alone, not the page. They keep their place in the sidebar.
    """
    view = ss.view
    names = store_names()
    if view.store not in names:
        names = [view.store, *names]
    ss.w_store = view.store
    from pages import _encoders  # it builds on this module

    with st.sidebar:
        st.selectbox("Store", names, key="w_store", on_change=_on_store)
        _encoders.encoder_picker()
        ss._controls_box = st.container()  # view_controls() draws here, also from a page's fragment
    ss._controls_pending = True
    if controls:
        view_controls()


def view_controls() -> None:
    """Alpha, one weight per modality, the fusion strategy and K, in their place in the sidebar (see sidebar())."""
    view = ss.view
    strategies = list_strategies()
    ss.w_alpha, ss.w_strategy, ss.w_k = round(view.alpha, 2), view.strategy, view.k
    for m in MODALITIES:
        ss[f"w_{m}"] = round(getattr(view.weights, m), 2)
    ss._controls_pending = False
    with ss._controls_box:
        st.slider("Text ↔ image (alpha)", 0.0, 1.0, step=0.01, key="w_alpha",
                  on_change=_from_widget, args=("w_alpha", session.with_alpha),
                  help="0 = text only, 1 = image only. Sets the text weight to 1 − alpha and the image weight to alpha.")
        st.caption("Modality weights")
        for m in MODALITIES:
            st.slider(m.capitalize(), 0.0, 1.0, step=0.01, key=f"w_{m}",
                      on_change=_from_widget, args=(f"w_{m}", lambda v, x, m=m: session.with_weight(v, m, x)))
        st.selectbox("Fusion strategy", list(strategies), key="w_strategy", help=strategies.get(view.strategy),
                     on_change=_from_widget, args=("w_strategy", lambda v, x: replace(v, strategy=x)))
        st.number_input("Results (K)", 1, session.MAX_K, key="w_k",
                        on_change=_from_widget, args=("w_k", lambda v, x: replace(v, k=int(x))))
        st.caption(f"*{strategies[view.strategy]}*")
        st.caption("The address bar holds this view: copy it to share or bookmark it.")


# ---------- the search query ----------

def current_query() -> Query:
    media = ss.query_media
    return Query(text=ss.view.text, items=ss.view.items, **{m: media[m][1] if media.get(m) else None for m in QUERY_MEDIA})


def query_key(store: Store, query: Query) -> str:
    h = hashlib.sha1(f"{store.path}|{store.version}|{query.text.strip()}|{'|'.join(query.items)}".encode())
    for media in (query.image, query.audio, query.video):
        h.update(hashlib.sha1(media).digest() if isinstance(media, bytes) else b"-")
    return h.hexdigest()


def search_candidates(eng: Engine, query: Query) -> Candidates | None:
    """Candidates of the current query, encoded once and kept in session state; shows errors."""
    if query.is_empty:
        st.info("Type a description, upload an image or a sound, or pick “More like this” on an item.")
        return None
    key = query_key(eng.store, query)
    if ss.search_cache.get("key") != key:
        try:
            with st.spinner("Encoding the query…"):
                ss.search_cache = {"key": key, "cands": eng.candidates(query), "error": None}
        except MMRecError as exc:
            ss.search_cache = {"key": key, "cands": None, "error": str(exc)}
    if ss.search_cache["error"]:
        st.error(ss.search_cache["error"])
    return ss.search_cache["cands"]


def search_hits(eng: Engine) -> list[Hit]:
    """The current query's top-K under the current weights (re-ranked, never re-encoded)."""
    cands = search_candidates(eng, current_query())
    if cands is None:
        return []
    view = ss.view
    try:
        return eng.hits(rank(cands, view.weights, strategy=view.strategy, k=view.k), query=cands.query)
    except MMRecError as exc:
        st.error(str(exc))
        return []


def set_query_media(modality: str, widget: str) -> None:
    """Uploader callback: keep the file in canonical state (the uploader is gone on other pages)."""
    up = ss.get(widget)
    if up is None:
        ss.query_media = {**ss.query_media, modality: None}
        return
    data = up.getvalue()
    if len(data) > MAX_QUERY_MEDIA_BYTES[modality]:
        flash("error", f"{up.name} is {len(data) / 2**20:.1f} MB; a query {modality} may be at most "
                       f"{MAX_QUERY_MEDIA_BYTES[modality] / 2**20:.0f} MB.")
        return
    ss.query_media = {**ss.query_media, modality: (up.name, data)}


def clear_query_media(modality: str) -> None:
    ss.query_media = {**ss.query_media, modality: None}
    ss.uploader_gen += 1


def item_title(store: Store, item_id: str) -> str:
    """An item's title (its id when it has none, or when the store has no such item); looks up one row only."""
    try:
        return store.items[store.row_of(item_id)].get("title") or item_id
    except MMRecError:
        return item_id


def more_like_this(item_id: str) -> None:
    set_view(items=(item_id,), text="")
    ss.query_media = dict.fromkeys(QUERY_MEDIA)
    ss.uploader_gen += 1
