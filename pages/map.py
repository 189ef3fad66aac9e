"""Embedding map: a 2-D projection of text, image, audio or fused embeddings with the query, top-K and profile marked."""

import streamlit as st

from mmrec_core.insight import MAP_SAMPLE, METHODS, SPACES, is_cached, map_figure, map_view, place_near
from pages import _state as state
from pages import _stores as stores
from pages import _ui as ui

state.routed()

eng = ui.require_engine()
store, ss, view = eng.store, ui.ss, ui.ss.view

st.title("Embedding map")
c1, c2, c3 = st.columns([2, 2, 1])
space = c1.segmented_control("Embeddings", SPACES, default="fused", required=True, key="map_space")
method = c2.segmented_control("Projection", list(METHODS), default="pca", required=True, key="map_method",
                              format_func=METHODS.get, help="PCA is instant; t-SNE shows clusters better but takes "
                              "a while, so it is computed on demand and saved with the store.")
colour = c3.selectbox("Colour by", ["category", "first tag"], key="map_colour")
if space == "fused":
    st.caption("Fused: each modality's vectors scaled by √weight (current sidebar weights) and concatenated, "
               "so closeness on the map follows the weighted similarity the search uses.")

sample = "" if store.n_items <= MAP_SAMPLE else f"sample{MAP_SAMPLE}"
drawn = min(store.n_items, MAP_SAMPLE)
if not is_cached(store.version_dir, space, method, view.weights, sample=sample):
    st.info(f"{METHODS[method]} is computed once for this store version, embedding space and weights, then saved "
            "(about a minute for a thousand items on a small machine).")
    if not st.button(f"Compute {METHODS[method]} for {drawn:,} items", type="primary"):
        st.stop()
    with stores.heavy(METHODS[method]), st.spinner(f"Computing {METHODS[method]} of {drawn:,} items…", show_time=True):
        map_view(store, space, method, view.weights)
    st.rerun()

hits = ui.search_hits(eng)
profile = state.get_profile()
known = store.rows_by_id()
liked = [known[i] for i in profile.liked if i in known]
disliked = [known[i] for i in profile.disliked if i in known]
top = [known[h.id] for h in hits]
with st.spinner("Reading the map's items…" if store.n_items > MAP_SAMPLE else None):
    mv = map_view(store, space, method, view.weights, colour=colour, extra=top + liked + disliked)
at_top = mv.positions(top)
fig = map_figure(
    mv.coords, mv.present, mv.titles, mv.groups,
    highlights={"top-K": at_top, "liked": mv.positions(liked), "disliked": mv.positions(disliked)},
    points={"query": place_near(mv.coords, at_top, [h.score for h in hits]),
            "profile": place_near(mv.coords, mv.positions(liked), [1.0] * len(liked), top=len(liked))},
)
st.plotly_chart(fig, key="map")
missing = int((~mv.present).sum())
st.caption((f"A fixed random sample of {MAP_SAMPLE:,} of the {store.n_items:,} items is drawn (no browser draws them all)"
            + (f", plus {mv.placed} of the top-K and profile items, each placed among its 5 most similar sampled items"
               if mv.placed else "") + ". " if mv.sampled else "")
           + f"{int(mv.present.sum()):,} items shown" + (f"; {missing} have no {space} embedding" if missing else "")
           + ". The query (red cross) sits at the score-weighted centre of its top matches (a 2-D map cannot place a new "
             "point exactly)"
           + ("; the profile (purple diamond) at the centre of your liked items" if liked else
              "; like items (Search or Profile) to see your profile on the map")
           + ". Hover a point for its title.")
