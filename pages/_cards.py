"""Item cards, result grids with their contribution chart, thumbnails and the results CSV (Streamlit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import streamlit as st

from mmrec_core import recs, session
from mmrec_core.catalog.video import clock
from mmrec_core.errors import MMRecError
from mmrec_core.insight import ImageMap, WordWeights, contribution_figure, explain_item, window_figure
from mmrec_core.query import Engine, FrameMatch, Hit
from mmrec_core.retrieval import MODALITIES, QueryVectors
from mmrec_core.store import Store
from pages import _state as state
from pages import _stores as stores
from pages import _ui as ui

Rater = tuple[Callable[[], recs.Profile], Callable[..., None]]
"""Where a card's like/dislike go: (get the profile, update it with a pure profile function and its arguments)."""
PROFILE: Rater = (state.get_profile, state.update_profile)  # the session's profile on the open store


def toggle(item_id: str, want: str, rater: Rater = PROFILE) -> None:
    get, update = rater
    status = get().status(item_id)
    update(recs.forget if status == want else recs.like if want == "liked" else recs.dislike, item_id)


def card(store: Store, item: dict[str, Any], *, heading: str, lines: Sequence[str] = (), key: str,
         more_like_this_button: bool = True, rater: Rater = PROFILE, frame: FrameMatch | None = None,
         why_key: str | None = None) -> None:
    """One item: image (or the video's best-matching frame), title, caption lines, video or audio player,
    like/dislike and 'more like this' buttons.

    Like and dislike change the session's profile, or whatever `rater` names (e.g. one user's likes).
    """
    with st.container(border=True):
        image = store.media_path(item.get("image"))
        clip = store.media_path(item.get("video"))
        clip = clip if clip is not None and clip.is_file() else None
        at = frame.time if frame is not None else store.poster_time(item["id"]) if clip is not None else 0.0
        if clip is not None:  # the frame that matched (or the first sampled one) stands for the item
            st.image(frame_thumbnail(str(clip), round(at, 3)), width="stretch", output_format="PNG",
                     alt=item.get("title") or item["id"])
        elif store.counts().get("image"):  # a catalog without any image (e.g. movies as text) gets no empty tiles
            st.image(thumbnail(str(image) if image is not None and image.is_file() else None), width="stretch",
                     output_format="PNG", alt=item.get("title") or item["id"])
        st.markdown(f"**{session.md_escape(heading)}**")
        for line in lines:
            st.caption(line)
        if clip is not None:
            if frame is not None:
                st.caption(f"best-matching frame at {clock(frame.time)} (cosine {frame.similarity:.2f}): shown above, "
                           "and the video starts there")
            st.video(str(clip), start_time=int(at))
        audio = store.media_path(item.get("audio"))
        if audio is not None and audio.is_file():
            st.audio(str(audio), format=f"audio/{audio.suffix.lstrip('.').replace('mp3', 'mpeg')}")
        status = rater[0]().status(item["id"])
        with st.container(horizontal=True, gap="small"):
            st.button("", icon=":material/thumb_up:", key=f"{key}-like",
                      help="Like: add to your profile (click again to undo)",
                      type="primary" if status == "liked" else "secondary", on_click=toggle, args=(item["id"], "liked", rater))
            st.button("", icon=":material/thumb_down:", key=f"{key}-dislike",
                      help="Dislike: steer recommendations away (click again to undo)",
                      type="primary" if status == "disliked" else "secondary", on_click=toggle,
                      args=(item["id"], "disliked", rater))
            if more_like_this_button:
                st.button("Similar", icon=":material/travel_explore:", key=f"{key}-more", on_click=ui.more_like_this, type="tertiary",
                          args=(item["id"],), help="More like this: search with this item as the query")
            if why_key is not None:
                st.button("Why", icon=":material/manage_search:", key=f"{key}-why", type="tertiary",
                          on_click=ui.ss.__setitem__, args=(why_key, item["id"]),
                          help="Which words, which part of the image and which seconds of the sound made this match")


@st.cache_data(show_spinner=False, max_entries=4096)
def thumbnail(path: str | None, size: int = 256) -> bytes:
    """A square PNG: the image fitted on white, or a grey 'no image' tile, so that cards line up."""
    return thumbnail_of(Path(path) if path else None, size)


def thumbnail_of(src: Path | bytes | None, size: int = 256) -> bytes:
    import io

    from PIL import Image, ImageDraw, ImageFont

    from mmrec_core.catalog import load_image

    tile = Image.new("RGB", (size, size), "white")
    try:
        img = load_image(src) if src else None
    except MMRecError:
        img = None
    if img is None:
        tile.paste((236, 236, 236), (0, 0, size, size))
        font = ImageFont.load_default(size=size // 10)
        ImageDraw.Draw(tile).text((size // 2, size // 2), "no image", fill=(140, 140, 140), anchor="mm", font=font)
    else:
        img.thumbnail((size - 16, size - 16))
        tile.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    buf = io.BytesIO()
    tile.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=1024)
def frame_thumbnail(path: str, t: float, size: int = 256) -> bytes:
    """The video's frame at t seconds as a square PNG tile (the 'no image' tile when it cannot be decoded)."""
    import io

    from mmrec_core.catalog.video import frame_at

    try:
        img = frame_at(Path(path), t)
    except MMRecError:
        return thumbnail(None, size)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return thumbnail_of(buf.getvalue(), size)


def hit_lines(hit: Hit) -> list[str]:
    parts = " · ".join(f"{m} {v:+.3f}" for m, v in hit.contributions.items() if v)
    return [f"score {hit.score:.3f}" + (f" = {parts}" if parts else "")]


def grid(n: int, columns: int = 4):
    """Yield n containers laid out in rows of `columns`."""
    for start in range(0, n, columns):
        cols = st.columns(columns)
        for j in range(min(columns, n - start)):
            yield cols[j]


WHY_MODALITIES = "Each bar is a result's fused score split into the exact share of each modality (the shares add up to the score)."


def results(store: Store, hits: Sequence[Hit], *, key: str, extra: dict[str, str] | None = None,
            rater: Rater = PROFILE, why: str = WHY_MODALITIES, more_like_this_button: bool = True,
            explain: tuple[Engine, str, QueryVectors] | None = None, chart_folded: bool = False) -> None:
    """A grid of result cards and one chart of every result's exact contributions (per modality, or per model).

    With `explain` = (engine, query text, query vectors), each card has a "Why" button that opens the
    explanation below the modality (words, image region, seconds) under the grid. chart_folded: see
    contribution_chart.
    """
    why_key = f"why-{key}" if explain is not None else None
    for i, (col, hit) in enumerate(zip(grid(len(hits)), hits), start=1):
        with col:
            lines = hit_lines(hit) + ([extra[hit.id]] if extra and hit.id in extra else [])
            card(store, hit.item, heading=f"{i}. {hit.item.get('title') or hit.id}", lines=lines, key=f"{key}-{hit.id}",
                 rater=rater, more_like_this_button=more_like_this_button, frame=hit.frame, why_key=why_key)
    if explain is not None:
        why_panel(*explain, hits=hits, key=key)
    contribution_chart(hits, key=key, why=why, folded=chart_folded)


def contribution_chart(hits: Sequence[Hit], *, key: str, why: str = WHY_MODALITIES, folded: bool = False) -> None:
    """The chart of every result's exact contributions, under "Why these results".

    folded: in an expander, closed at first and drawn only while open: redrawing the chart costs the browser
    about 40 ms of main-thread time per slider move on the Search page (bench/browser_latency.py).
    """
    if not hits:
        return
    labels = [f"{i}. {h.item.get('title') or h.id}"[:40] for i, h in enumerate(hits, start=1)]
    if folded:
        box = st.expander("Why these results: the scores split per modality, as a chart", key=f"{key}-chart-open",
                          on_change="rerun")
        if box.open:
            with box:
                st.caption(why)
                st.plotly_chart(contribution_figure(labels, [h.contributions for h in hits]), key=f"{key}-chart")
        return
    st.subheader("Why these results")
    st.caption(why)
    st.plotly_chart(contribution_figure(labels, [h.contributions for h in hits]), key=f"{key}-chart")


MAX_EXPLANATIONS = 64  # kept per session, newest last


def why_panel(eng: Engine, query_text: str, query: QueryVectors, *, hits: Sequence[Hit], key: str) -> None:
    """The explanation of the result whose "Why" was pressed, computed once per (query, item) and kept."""
    ss = ui.ss
    hit = next((h for h in hits if h.id == ss.get(f"why-{key}")), None)
    if hit is None:
        return
    store = eng.store
    title = hit.item.get("title") or hit.id
    cache_key = (str(store.path), store.version, query_text, _vectors_key(query), hit.id)
    cache = ss.setdefault("explanations", {})
    if cache_key not in cache:
        with stores.heavy("The explanation"), st.status(f"Explaining “{session.md_escape(title)}”…", expanded=False) as status:
            cache[cache_key] = explain_item(eng, query_text, query, store.row_of(hit.id),
                                            progress=lambda stage: status.update(label=f"Explaining: {stage}…"))
            status.update(label=f"Explained in {cache[cache_key].seconds:.1f} s", state="complete")
        while len(cache) > MAX_EXPLANATIONS:
            cache.pop(next(iter(cache)))
    ex = cache[cache_key]
    with st.container(border=True):
        head, close = st.columns([6, 1])
        head.subheader(f"Why “{session.md_escape(title)}” matches")
        close.button("Close", key=f"{key}-why-close", on_click=ss.__setitem__, args=(f"why-{key}", None))
        words, picture, sound = st.columns(3)
        with words:
            st.markdown("**Words**")
            if ex.query_words is None:
                st.caption("The query has no text to compare with this item's text.")
            else:
                st.markdown(highlight(ex.query_words))
                st.caption(f"Your words, coloured by how much the text similarity ({ex.query_words.base:.2f}) drops "
                           "without each one (green helps, red hurts).")
                top = ex.item_words.top(5) if ex.item_words else []
                if top:
                    st.markdown("Item words that match: " + ", ".join(f"**{session.md_escape(w)}** {v:+.2f}" for w, v in top))
        with picture:
            st.markdown("**Image**")
            if ex.image is None:
                st.caption("No image (or no image-space query) to explain.")
            else:
                st.image(overlay_png(ex.image), width="stretch")
                st.caption(f"Red: the part of the {ex.image_source} that matched; hiding it lowers the image "
                           f"similarity ({ex.image.base:.2f}) the most.")
        with sound:
            st.markdown("**Sound**")
            if ex.audio is None:
                st.caption("The query has no sound, so no seconds of this clip are compared.")
            else:
                st.plotly_chart(window_figure(ex.audio.starts, ex.audio.scores, ex.audio.window), key=f"{key}-why-audio")
                best = int(np.argmax(ex.audio.scores))
                st.caption(f"Similarity of each {ex.audio.window:g} s window with the query sound; best from "
                           f"{clock(float(ex.audio.starts[best]))}.")


def highlight(words: WordWeights) -> str:
    """The words as Markdown, each on a green (helps) or red (hurts) background scaled to the largest weight."""
    peak = max((abs(v) for v in words.weights), default=0.0) or 1.0
    out = ""
    for i, (w, v) in enumerate(zip(words.words, words.weights)):
        text = session.md_escape(w)
        strength = abs(v) / peak
        out += words.separator(i)  # Chinese and Japanese words follow each other without a space, as typed
        out += text if strength < 0.15 else f":{'green' if v > 0 else 'red'}-background[{text}]"
    return out


def overlay_png(image: ImageMap) -> bytes:
    """The explained picture (the one the map was computed on) with its map over it, as PNG."""
    import io

    from mmrec_core.insight import overlay

    buf = io.BytesIO()
    overlay(image.picture, image.heat, full=0.15 * abs(image.base)).save(buf, format="PNG")  # red: hiding it costs 15 %
    return buf.getvalue()


def _vectors_key(query: QueryVectors) -> tuple:
    return tuple(None if query.get(m) is None else hash(np.asarray(query.get(m)).tobytes()) for m in MODALITIES)


def hits_csv(hits: Sequence[Hit]) -> bytes:
    import pandas as pd

    rows = [{"rank": i, "id": h.id, "title": h.item.get("title", ""), "score": round(h.score, 6),
             **{m: round(v, 6) for m, v in h.contributions.items()}} for i, h in enumerate(hits, start=1)]
    return pd.DataFrame(rows, columns=["rank", "id", "title", "score", *MODALITIES]).to_csv(index=False).encode()
