"""mmrec dashboard: a router. Page config, shared state and sidebar, then the page the URL names."""

from pathlib import Path

import streamlit as st

from pages import _access as access
from pages import _encoders
from pages import _state as state
from pages import _ui as ui

ICON = Path(__file__).parent / "assets" / "icon.png"
st.set_page_config(page_title="mmrec: multimodal search", page_icon=str(ICON), layout="wide")  # a local file: no icon fetch
state.init_state()
access.gate()  # a shared dashboard that refuses anonymous visitors asks them to sign in first

PAGES = {
    "search": st.Page("pages/search.py", title="Search", icon=":material/search:", url_path="search", default=True),
    "catalog": st.Page("pages/catalog.py", title="Catalog", icon=":material/photo_library:", url_path="catalog"),
    "profile": st.Page("pages/profile.py", title="Profile & recommendations", icon=":material/favorite:", url_path="profile"),
    "recommend": st.Page("pages/recommend.py", title="Recommendation models", icon=":material/recommend:", url_path="recommend"),
    "map": st.Page("pages/map.py", title="Embedding map", icon=":material/scatter_plot:", url_path="map"),
    "compare": st.Page("pages/compare.py", title="Compare & evaluate", icon=":material/balance:", url_path="compare"),
}
LIVE = {"search"}  # pages that draw the weight controls in a fragment with their results (see ui.sidebar)
page = st.navigation(list(PAGES.values()))
name = next(k for k, p in PAGES.items() if p.url_path == page.url_path)

# A link like /?page=map opens that page once; after that the navigation decides.
wanted = ui.ss.pop("url_page", None)
if wanted in PAGES and wanted != name:
    st.switch_page(PAGES[wanted])

ui.sidebar(controls=name not in LIVE)
access.sidebar_box()
state.sync_url(name)
state.show_flash()
_encoders.encode_panel()
_encoders.checkpoint_notice()
ui.ss._router_active = True  # pages check it: see state.routed()
try:
    page.run()
finally:
    ui.ss._router_active = False
