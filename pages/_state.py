"""Per-session state shared by app.py and the pages: the view, profiles, query media, one-shot messages, the URL.

Canonical state lives in plain st.session_state keys set once in init_state(); widgets have their own keys
("w_...") that are refreshed from the canonical state before they are drawn.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import streamlit as st

from mmrec_core import recs, session

APP_FILE = Path(__file__).resolve().parents[1] / "app.py"
QUERY_MEDIA = ("image", "audio", "video")
ss = st.session_state


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
    ss.setdefault("user", None)  # a signed-in access.User on a shared dashboard (see pages/_access.py)


def set_view(**changes: Any) -> None:
    ss.view = replace(ss.view, **changes)


def get_profile() -> recs.Profile:
    return ss.profiles.get(ss.view.store, recs.Profile())


def update_profile(fn: Callable[..., recs.Profile], *args: Any) -> None:
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
