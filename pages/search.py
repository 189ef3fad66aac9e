"""Search: text, an image, a sound, any mix, or more like an item; results re-rank as the sidebar moves."""

import streamlit as st

from mmrec_core.query import Query
from mmrec_core.session import md_escape
from pages import _cards as cards
from pages import _rerank as rerank
from pages import _state as state
from pages import _ui as ui

state.routed()

eng = ui.require_engine()
store, ss = eng.store, ui.ss

st.title("Search")
ss.w_query = ss.view.text
st.text_input("Describe what you are looking for", key="w_query", max_chars=500,
              placeholder="e.g. a cute animal, something that flies, a loud noise",
              on_change=lambda: state.set_view(text=ss.w_query))
if reading := eng.reading(ss.view.text):
    st.caption(f"This query is {reading}.")
left, middle, right = st.columns(3)
gen = ss.uploader_gen  # bumped to empty the uploaders when their file is removed from the query
left.file_uploader("…or search with an image", type=["png", "jpg", "jpeg", "webp", "gif", "bmp"],
                   key=f"w_qimage{gen}", on_change=ui.set_query_media, args=("image", f"w_qimage{gen}"))
middle.file_uploader("…or with a sound", type=["wav", "ogg", "flac", "mp3"],
                     key=f"w_qaudio{gen}", on_change=ui.set_query_media, args=("audio", f"w_qaudio{gen}"))
right.file_uploader("…or with a video clip", type=["mp4", "webm", "ogv", "mkv", "mov", "gif", "webp"],
                    key=f"w_qvideo{gen}", on_change=ui.set_query_media, args=("video", f"w_qvideo{gen}"),
                    help="Its frames are compared with the items' images, its soundtrack with their audio.")

# What the query holds now (uploads stay in the query until removed, also after visiting other pages).
with st.container(horizontal=True):
    for m in state.QUERY_MEDIA:
        if ss.query_media[m]:
            st.button(icon=":material/close:", label=f"{m}: {md_escape(ss.query_media[m][0])}", key=f"clear-{m}",
                      on_click=ui.clear_query_media, args=(m,))
    for iid in ss.view.items:
        st.button(icon=":material/close:", label=f"more like: {md_escape(ui.item_title(store, iid))}", key=f"clear-seed-{iid}",
                  on_click=lambda iid=iid: state.set_view(items=tuple(i for i in ss.view.items if i != iid)))


@st.fragment
def live_results(query: Query) -> None:
    """The weights, the strategy and the results: they re-rank in the browser (pages/_rerank.py); the settled value,
    a like or "Why" rerun only this fragment, not the page."""
    if ui.current_query() != query:  # a card's "Similar" changed the query: the whole page follows
        st.rerun()
    cands = ui.search_candidates(eng, query)
    if cands is not None:
        rerank.results(eng, cands)
        hits = ui.settled_hits(eng, cands)  # the settled view's top K, for the CSV and the chart
        if hits:
            st.download_button("Download results (CSV)", lambda: cards.hits_csv(hits), file_name="mmrec-results.csv",
                               mime="text/csv", on_click="ignore")  # the CSV is made when clicked, not on every move
            cards.contribution_chart(hits, key="search", folded=True)
    ui.view_controls(weights=False)  # K stays in the sidebar; the weights and the strategy are above the results
    state.sync_url("search")  # app.py does it on full runs only


live_results(ui.current_query())
