"""Embedding map: a 2-D projection of text, image, audio or fused embeddings with the query, top-K and profile marked."""

import streamlit as st

from mmrec_core.profile import category_of
from mmrec_core.viz import METHODS, SPACES, is_cached, map_figure, place_near, projection
from pages import _ui as ui

ui.routed()

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

if not is_cached(store.version_dir, space, method, view.weights):
    st.info(f"{METHODS[method]} is computed once for this store version, embedding space and weights, then saved "
            "(about a minute for a thousand items on a small machine).")
    if not st.button(f"Compute {METHODS[method]} for {len(store.items)} items", type="primary"):
        st.stop()
    with st.spinner(f"Computing {METHODS[method]} of {len(store.items)} items…", show_time=True):
        projection(store.embeddings, store.version_dir, space, method, view.weights)
    st.rerun()
coords, present = projection(store.embeddings, store.version_dir, space, method, view.weights)

hits = ui.search_hits(eng)
rows = {iid: r for r, iid in enumerate(store.ids)}
profile = ui.get_profile()
liked = [rows[i] for i in profile.liked if i in rows]
top = [rows[h.id] for h in hits]
groups = [category_of(it) if colour == "category" else (it.get("tags") or ["(none)"])[0] for it in store.items]
fig = map_figure(
    coords, present, [it.get("title") or it["id"] for it in store.items], groups,
    highlights={"top-K": top, "liked": liked, "disliked": [rows[i] for i in profile.disliked if i in rows]},
    points={"query": place_near(coords, top, [h.score for h in hits]),
            "profile": place_near(coords, liked, [1.0] * len(liked), top=len(liked))},
)
st.plotly_chart(fig, key="map")
missing = int((~present).sum())
st.caption(f"{int(present.sum())} items shown" + (f"; {missing} have no {space} embedding" if missing else "")
           + ". The query (red cross) sits at the score-weighted centre of its top matches (a 2-D map cannot place a new "
             "point exactly)"
           + ("; the profile (purple diamond) at the centre of your liked items" if liked else
              "; like items (Search or Profile) to see your profile on the map")
           + ". Hover a point for its title.")
