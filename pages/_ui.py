"""Streamlit glue for the pages: the sidebar every page shares (store, encoder, weights) and the search query.

Widget callbacks only call pure functions from mmrec_core.session; the state they change is _state's.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Callable

# Imported in full before any page draws: plotly peeks at sys.modules["pandas"] without importing it, so a
# session drawing a chart while another session is still importing pandas met a half-made module.
import pandas  # noqa: F401
import streamlit as st

from mmrec_core import session
from mmrec_core.errors import MMRecError
from mmrec_core.query import Engine, Hit, Query
from mmrec_core.retrieval import MODALITIES, Candidates, list_strategies, rank
from mmrec_core.store import Store
from pages import _encoders
from pages._state import QUERY_MEDIA, flash, set_view, ss
from pages._stores import engine, open_store_view, store_names

MAX_QUERY_MEDIA_BYTES = {"image": 20 * 2**20, "audio": 20 * 2**20, "video": 100 * 2**20}


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

    with st.sidebar:
        st.selectbox("Store", names, key="w_store", on_change=_on_store)
        _encoders.encoder_picker()
        ss._controls_box = st.container()  # view_controls() draws here, also from a page's fragment
    ss._controls_pending = True
    if controls:
        view_controls()


def view_controls(*, weights: bool = True) -> None:
    """Alpha, one weight per modality, the fusion strategy and K, in their place in the sidebar (see sidebar()).

    weights=False: K alone (the Search page draws the weights and the strategy over its results, in the browser)."""
    view = ss.view
    strategies = list_strategies()
    ss.w_alpha, ss.w_strategy, ss.w_k = round(view.alpha, 2), view.strategy, view.k
    for m in MODALITIES:
        ss[f"w_{m}"] = round(getattr(view.weights, m), 2)
    ss._controls_pending = False
    with ss._controls_box:
        if not weights:
            st.number_input("Results (K)", 1, session.MAX_K, key="w_k",
                            on_change=_from_widget, args=("w_k", lambda v, x: replace(v, k=int(x))))
            st.caption("The weights and the fusion strategy sit above the results on this page: they re-rank in "
                       "your browser as you move them.")
            st.caption("The address bar holds this view: copy it to share or bookmark it.")
            return
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


def settled_hits(eng: Engine, cands: Candidates) -> list[Hit]:
    """The candidates' top-K under the view's weights, quietly ([] where the weights select nothing)."""
    view = ss.view
    try:
        return eng.hits(rank(cands, view.weights, strategy=view.strategy, k=view.k), query=cands.query)
    except MMRecError:
        return []


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
