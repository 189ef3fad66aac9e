"""Profile & recommendations: liked/disliked items and uploaded media -> recommendations with explanations."""

import streamlit as st

from mmrec_core import recs
from mmrec_core.errors import MMRecError
from mmrec_core.insight import MIN_DISLIKES, MIN_LIKES, fit_profile, item_title
from mmrec_core.query import Query
from mmrec_core.retrieval import rank
from mmrec_core.session import md_escape
from pages import _cards as cards
from pages import _state as state
from pages import _ui as ui

state.routed()

eng = ui.require_engine()
store, ss = eng.store, ui.ss
profile = state.get_profile()


def add_media(modality: str, widget: str) -> None:
    """Uploader callback: encode the file once and keep its vectors in the profile."""
    up = ss.get(widget)
    if up is None:
        return
    data = up.getvalue()
    limit = ui.MAX_QUERY_MEDIA_BYTES[modality]
    if len(data) > limit:
        state.flash("error", f"{up.name} is {len(data) / 2**20:.1f} MB; the limit is {limit / 2**20:.0f} MB.")
        return
    try:
        vectors = eng.vectors(Query(**{modality: data}))
    except MMRecError as exc:
        state.flash("error", f"{up.name}: {exc}")
        return
    state.update_profile(recs.add_upload, recs.Upload(up.name, modality, vectors))
    ss.uploader_gen += 1


st.title("Profile & recommendations")
with st.expander(f"Your profile on “{ss.view.store}”", expanded=True):
    cols = st.columns(3)
    for col, (label, ids) in zip(cols, (("Liked", profile.liked), ("Disliked", profile.disliked))):
        col.caption(f"{label} ({len(ids)}) · click to remove")
        for iid in ids:
            col.button(md_escape(item_title(store, iid)), icon=":material/close:", key=f"forget-{iid}",
                       on_click=state.update_profile, args=(recs.forget, iid))
    with cols[2]:
        st.caption(f"Uploads ({len(profile.uploads)})")
        for i, up in enumerate(profile.uploads):
            st.button(icon=":material/close:", label=f"{up.modality}: {md_escape(up.name)}", key=f"upload-{i}",
                      on_click=state.update_profile, args=(recs.remove_upload, i))
        gen = ss.uploader_gen
        st.file_uploader("Add an image you like", type=["png", "jpg", "jpeg", "webp", "gif", "bmp"],
                         key=f"p_image{gen}", on_change=add_media, args=("image", f"p_image{gen}"))
        st.file_uploader("Add a sound you like", type=["wav", "ogg", "flac", "mp3"],
                         key=f"p_audio{gen}", on_change=add_media, args=("audio", f"p_audio{gen}"))
        st.file_uploader("Add a video clip you like", type=["mp4", "webm", "ogv", "mkv", "mov", "gif", "webp"],
                         key=f"p_video{gen}", on_change=add_media, args=("video", f"p_video{gen}"))
    if not profile.is_empty:
        st.button("Clear profile", on_click=state.update_profile, args=(lambda p: recs.Profile(),))

explained = fit_profile(store, profile.liked, profile.disliked, current=ss.view.weights)
if explained is not None and explained.auc > explained.current_auc:
    w = explained.weights.as_dict()
    with st.container(border=True):
        st.markdown(f"Your likes are explained mostly by **{explained.dominant}** "
                    f"({', '.join(f'{m} {v:.1f}' for m, v in w.items() if v > 0)}): under these weights each item you "
                    f"rated is closer to your other likes when you liked it (AUC {explained.auc:.2f}, against "
                    f"{explained.current_auc:.2f} under the sidebar weights; {explained.n_liked} likes, "
                    f"{explained.n_disliked} dislikes).")
        st.button("Use these weights", key="use-profile-weights", type="primary",
                  on_click=state.set_view, kwargs={"weights": explained.weights})
elif explained is None and (profile.liked or profile.disliked):
    st.caption(f"With {MIN_LIKES} likes and {MIN_DISLIKES} dislikes, mmrec fits the modality weights that "
               "best explain your taste.")

st.subheader("Recommended for you" if profile.has_positives else "Start here")
view = ss.view
if profile.has_positives:
    try:
        wanted = recs.profile_vectors(store, profile)
        ranking = rank(eng.candidates(wanted), view.weights, strategy=view.strategy, k=view.k)
    except MMRecError as exc:
        st.error(str(exc))
        st.stop()
    hits = eng.hits(ranking, query=wanted)
    reasons = recs.because(store, ranking.rows, profile.liked)
    extra = {store.ids[r]: f"closest to your liked “{md_escape(item_title(store, iid))}” (similarity {s:.2f})"
             for r, (iid, s) in reasons.items()}
    st.caption(f"Built from {len(profile.liked)} liked item(s) and {len(profile.uploads)} upload(s), "
               f"pushed away from {len(profile.disliked)} disliked item(s). Items you rated are not shown. "
               "Same weights, strategy and K as the sidebar.")
    cards.results(store, hits, key="rec", extra=extra, explain=(eng, "", wanted))
else:
    st.info(recs.COLD_START_EXPLANATION)
    picks = recs.cold_start(store, view.k, exclude=profile.disliked)
    for i, (col, (row, cat, typ)) in enumerate(zip(cards.grid(len(picks)), picks), start=1):
        with col:
            item = store.items[row]
            cards.card(store, item, heading=f"{i}. {item.get('title') or item['id']}",
                    lines=[f"category {md_escape(cat)} · typicality {typ:.2f}"], key=f"cold-{item['id']}")
