"""Item cards, result grids with their contribution chart, thumbnails and the results CSV (Streamlit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import streamlit as st

from mmrec_core import profile as prof
from mmrec_core import session
from mmrec_core.errors import MMRecError
from mmrec_core.fusion import MODALITIES
from mmrec_core.query import FrameMatch, Hit
from mmrec_core.store import Store
from mmrec_core.video import clock
from mmrec_core.viz import contribution_figure
from pages import _ui as ui


Rater = tuple[Callable[[], prof.Profile], Callable[..., None]]
"""Where a card's like/dislike go: (get the profile, update it with a pure profile function and its arguments)."""
PROFILE: Rater = (ui.get_profile, ui.update_profile)  # the session's profile on the open store


def _toggle(item_id: str, want: str, rater: Rater = PROFILE) -> None:
    get, update = rater
    status = get().status(item_id)
    update(prof.forget if status == want else prof.like if want == "liked" else prof.dislike, item_id)


def card(store: Store, item: dict[str, Any], *, heading: str, lines: Sequence[str] = (), key: str,
         more_like_this_button: bool = True, rater: Rater = PROFILE, frame: FrameMatch | None = None) -> None:
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
            st.image(frame_thumbnail(str(clip), round(at, 3)), width="stretch", alt=item.get("title") or item["id"])
        elif store.counts().get("image"):  # a catalog without any image (e.g. movies as text) gets no empty tiles
            st.image(thumbnail(str(image) if image is not None and image.is_file() else None), width="stretch",
                     alt=item.get("title") or item["id"])
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
                      type="primary" if status == "liked" else "secondary", on_click=_toggle, args=(item["id"], "liked", rater))
            st.button("", icon=":material/thumb_down:", key=f"{key}-dislike",
                      help="Dislike: steer recommendations away (click again to undo)",
                      type="primary" if status == "disliked" else "secondary", on_click=_toggle,
                      args=(item["id"], "disliked", rater))
            if more_like_this_button:
                st.button("Similar", icon=":material/travel_explore:", key=f"{key}-more", on_click=ui.more_like_this, type="tertiary",
                          args=(item["id"],), help="More like this: search with this item as the query")


@st.cache_data(show_spinner=False, max_entries=4096)
def thumbnail(path: str | None, size: int = 256) -> bytes:
    """A square PNG: the image fitted on white, or a grey 'no image' tile, so that cards line up."""
    return thumbnail_of(Path(path) if path else None, size)


def thumbnail_of(src: Path | bytes | None, size: int = 256) -> bytes:
    import io

    from PIL import Image, ImageDraw, ImageFont

    from mmrec_core.media import load_image

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

    from mmrec_core.video import frame_at

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
            rater: Rater = PROFILE, why: str = WHY_MODALITIES, more_like_this_button: bool = True) -> None:
    """A grid of result cards and one chart of every result's exact contributions (per modality, or per model)."""
    for i, (col, hit) in enumerate(zip(grid(len(hits)), hits), start=1):
        with col:
            lines = hit_lines(hit) + ([extra[hit.id]] if extra and hit.id in extra else [])
            card(store, hit.item, heading=f"{i}. {hit.item.get('title') or hit.id}", lines=lines, key=f"{key}-{hit.id}",
                 rater=rater, more_like_this_button=more_like_this_button, frame=hit.frame)
    if hits:
        st.subheader("Why these results")
        st.caption(why)
        labels = [f"{i}. {h.item.get('title') or h.id}"[:40] for i, h in enumerate(hits, start=1)]
        st.plotly_chart(contribution_figure(labels, [h.contributions for h in hits]), key=f"{key}-chart")


def hits_csv(hits: Sequence[Hit]) -> bytes:
    import pandas as pd

    rows = [{"rank": i, "id": h.id, "title": h.item.get("title", ""), "score": round(h.score, 6),
             **{m: round(v, 6) for m, v in h.contributions.items()}} for i, h in enumerate(hits, start=1)]
    return pd.DataFrame(rows, columns=["rank", "id", "title", "score", *MODALITIES]).to_csv(index=False).encode()
