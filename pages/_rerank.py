"""The Search page's results, re-ranked in the browser: a Streamlit custom component (v2) over the kept candidates.

Once per query the page sends what a re-rank needs: every candidate's per-modality similarities and presence,
a summary of each (title, media URLs) and the view; pages/rerank/results.mjs ranks them with fusion.mjs (the
library's twin, checked against its test vectors) as the weights, alpha or the strategy move, and tells Python
the settled value (debounced) so the link, the other pages, the CSV and the map follow. Media are served from
the app's static folder (content-addressed hard links of the store's own files; server.enableStaticServing).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import Any

import streamlit as st

from mmrec_core import session
from mmrec_core.catalog.video import clock
from mmrec_core.errors import MMRecError
from mmrec_core.query import Engine, Hit
from mmrec_core.retrieval import Candidates, Weights, list_strategies, rank
from mmrec_core.store import Store
from pages import _cards as cards
from pages import _state as state
from pages import _ui as ui
from pages._state import APP_FILE, ss

HERE = Path(__file__).resolve().parent / "rerank"
STATIC = APP_FILE.parent / "static"
MEDIA_ROUTE = "app/static/media"  # relative to the page, so a server.baseUrlPath keeps working
KEY = "search-rr"
NO_MATCH = "No item matches under these weights: give weight to a modality the query has."

_COMPONENT = st.components.v2.component(
    "mmrec_rerank",
    html='<div class="rr"><div class="rr-controls" role="group" aria-label="Fusion weights"></div>'
         '<p class="rr-note"></p><p class="rr-caption" aria-live="polite"></p>'
         '<div class="rr-message" role="status" hidden></div><div class="rr-grid" role="list"></div></div>',
    css=(HERE / "results.css").read_text(encoding="utf-8"),
    js=(HERE / "fusion.mjs").read_text(encoding="utf-8") + "\n" + (HERE / "results.mjs").read_text(encoding="utf-8"),
)
_links: dict[Path, str | None] = {}
_links_lock = threading.Lock()


def media_url(store: Store, rel: str | None) -> str | None:
    """A URL the browser can load for one of the store's media files (None when the file is not there).

    The store's media are content-addressed, so a hard link of the same name in static/media serves it for every
    store and session; made once per process and file (a copy where links cannot cross file systems)."""
    path = store.media_path(rel)
    if path is None:
        return None
    with _links_lock:
        if path not in _links:
            dest = STATIC / "media" / path.name
            try:
                if not dest.exists():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}")
                    try:
                        os.link(path, tmp)
                    except OSError:
                        shutil.copyfile(path, tmp)
                    os.replace(tmp, dest)
                _links[path] = f"{MEDIA_ROUTE}/{path.name}"
            except OSError:  # no such file (a store built without media), or a static folder we cannot write
                _links[path] = None
        return _links[path]


def _item(eng: Engine, hit: Hit) -> dict[str, Any]:
    item, store = hit.item, eng.store
    video = media_url(store, item.get("video"))
    at = hit.frame.time if hit.frame is not None else store.poster_time(hit.id) if video else 0.0
    line = (f"best-matching frame at {clock(hit.frame.time)} (cosine {hit.frame.similarity:.2f}): shown above, "
            "and the video starts there") if video and hit.frame is not None else ""
    return {"id": hit.id, "title": item.get("title") or hit.id, "image": media_url(store, item.get("image")),
            "audio": media_url(store, item.get("audio")), "video": video, "at": round(at, 3), "line": line}


def payload(eng: Engine, cands: Candidates) -> dict[str, Any]:
    """What the browser needs to rank this query's candidates under any weights, and the settled view's ranking."""
    view, store = ss.view, eng.store
    key = ss.search_cache.get("key")
    if ss.search_cache.get("rr_key") != key:  # the items' summaries depend on the query alone: once per query
        by_id = {h.id: h for h in every_hit(eng, cands)}
        ids = [store.ids[int(r)] for r in cands.rows]
        ss.search_cache.update(rr_key=key, rr_items=[_item(eng, by_id[i]) if i in by_id else {"id": i, "title": i}
                                                     for i in ids])
    position = {r: i for i, r in enumerate(cands.rows.tolist())}
    try:
        server = rank(cands, view.weights, strategy=view.strategy, k=view.k)
        top = {"positions": [position[int(r)] for r in server.rows], "scores": server.scores.tolist(),
               "contributions": server.contributions.tolist()}
    except MMRecError as exc:
        top = {"error": str(exc)}
    profile = state.get_profile()
    return {
        "query_key": key, "seq": int(ss.get("rerank_seq", 0)),
        "weights": view.weights.as_dict(), "strategy": view.strategy, "k": view.k, "params": {},
        "strategies": list_strategies(), "n_items": store.n_items, "has_images": bool(store.counts().get("image")),
        "cands": {"sims": cands.sims.tolist(), "avail": cands.avail.tolist(),
                  "exclude": sorted(position[r] for r in cands.exclude if r in position)},
        "items": ss.search_cache["rr_items"],
        "liked": list(profile.liked), "disliked": list(profile.disliked), "server": top, "no_match": NO_MATCH,
    }


def every_hit(eng: Engine, cands: Candidates) -> list[Hit]:
    """Every candidate as a Hit under the settled view (fused order), for summaries and a Why off the top K."""
    if not len(cands.rows):
        return []
    view = ss.view
    strategy = view.strategy if view.strategy in list_strategies() else "weighted"
    try:
        ranking = rank(cands, view.weights, strategy=strategy, k=len(cands.rows))
    except MMRecError:  # e.g. max pooling with every weight at zero: any order names the items
        ranking = rank(cands, Weights(), strategy="weighted", k=len(cands.rows))
    return eng.hits(ranking, query=cands.query)


def _settled() -> None:
    got = (ss.get(KEY) or {}).get("settled") or {}
    try:
        ss.view = session.with_settled(ss.view, got.get("weights") or {}, str(got.get("strategy")))
    except MMRecError as exc:  # a crafted or stale message: keep the view, say why
        state.flash("warning", f"Ignored weights from the page: {exc}")
        return
    ss.rerank_seq = int(got.get("seq") or 0)


def _action() -> None:
    got = (ss.get(KEY) or {}).get("action") or {}
    kind, item_id = got.get("kind"), str(got.get("id") or "")
    shown = {it["id"] for it in ss.search_cache.get("rr_items", [])}
    if ss.search_cache.get("cands") is None or item_id not in shown:  # only a card the page was sent
        return
    if kind in ("like", "dislike"):
        cards.toggle(item_id, "liked" if kind == "like" else "disliked")
    elif kind == "similar":
        ui.more_like_this(item_id)
    elif kind == "why":
        ss["why-search"] = item_id
        ss["why-dialog"] = True  # opens once; a later run (a settled weight) does not open it again


def results(eng: Engine, cands: Candidates) -> None:
    """The weights, the strategy and the ranked cards (the browser re-ranks); a card's Why opens in a dialog."""
    state.show_flash()  # e.g. a refused message from the page, now rather than on the next full run
    _COMPONENT(key=KEY, data=payload(eng, cands), on_settled_change=_settled, on_action_change=_action)
    why = ss.get("why-search")
    if why and ss.pop("why-dialog", False):
        hit = next((h for h in every_hit(eng, cands) if h.id == why), None)
        if hit is not None:
            _why_dialog(eng, cands, hit)


@st.dialog("Why this result", width="large")
def _why_dialog(eng: Engine, cands: Candidates, hit: Hit) -> None:
    """The explanation where the eye is: over the cards, not under all of them."""
    if not ss.get("why-search"):  # its Close button was pressed: the whole page reruns, without the dialog
        st.rerun()
    cards.why_panel(eng, ss.view.text, cands.query, hits=[hit], key="search")
