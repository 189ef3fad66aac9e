"""A real browser (headless Chromium via Playwright) against `streamlit run app.py` on a small store.

Opens a deep link first (a fresh server starts in legacy multipage mode: see pages/_state.routed), searches,
moves the alpha slider, checks that the results change and the URL follows, likes an item, and saves
screenshots of every page to tests/out/*.png.
"""

from __future__ import annotations

import csv
import re
import shutil
import time
from pathlib import Path

import pytest

from helpers.browser import CHROMIUM, OUT, app_server, browser_page, headings, scores, settle

HOSTILE_TITLE = '<img src=x onerror="window.__pwned=1">Evil'
HOSTILE_DESCRIPTION = "<script>window.__pwned=2</script> [link](javascript:window.__pwned=3) **loud**"

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's /usr/bin/chromium (apt install chromium)")


@pytest.fixture(scope="module")
def browser_home(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MMREC_HOME holding the tiny catalog (and a hostile item) as the 'demo' store."""
    from mmrec_core.ingest import ingest

    home = tmp_path_factory.mktemp("browser-home")
    shutil.copytree(tiny_catalog, home / "catalog")
    with open(home / "catalog" / "catalog.csv", "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(["xss", HOSTILE_TITLE, HOSTILE_DESCRIPTION, "", "", "<b>bold</b>;evil", ""])
    ingest(home / "catalog", home / "stores" / "demo")
    return home


@pytest.fixture(scope="module")
def server(browser_home: Path):
    """`streamlit run app.py` on browser_home."""
    with app_server(browser_home) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with browser_page() as pg:
        yield pg


def test_search_slider_like_and_every_page(server, page):
    pg = page
    # A deep link is the fresh server's first request.
    pg.goto(f"{server}/catalog?store=demo&k=5")
    pg.get_by_role("heading", name="Catalog").wait_for(timeout=120_000)
    settle(pg)
    assert pg.get_by_text("Red ball").count() >= 1
    pg.screenshot(path=OUT / "catalog.png")

    pg.goto(f"{server}/?q=a+round+ball&k=5&wa=0&alpha=0.5")
    pg.get_by_text("Why these results").wait_for(timeout=120_000)
    settle(pg)
    before, before_scores = headings(pg), scores(pg)
    assert len(before) == len(before_scores) == 5 and not pg.locator('[data-testid="stException"]').count()
    pg.screenshot(path=OUT / "search.png", full_page=True)

    thumb = pg.get_by_role("slider", name="Text ↔ image (alpha)")
    thumb.focus()
    thumb.press("End")  # alpha = 1: image only
    deadline = time.time() + 60
    while headings(pg) == before and time.time() < deadline:
        time.sleep(0.5)
    settle(pg)
    after, after_scores = headings(pg), scores(pg)
    # image only: the three items that have a picture, each scored by its image alone
    assert after != before and len(after) == 3
    assert all("image" in a and "text" not in a for a in after_scores)
    assert "alpha=1.00" in pg.url and "wt=0.00" in pg.url
    pg.screenshot(path=OUT / "search-alpha1.png", full_page=True)

    pg.locator('[data-testid="stButton"] button').filter(has_text="Why").first.click()  # below the modality
    pg.get_by_text(re.compile("^Why “")).wait_for(timeout=60_000)
    settle(pg)
    assert pg.get_by_text("Your words, coloured").count() == 1 and not pg.locator('[data-testid="stException"]').count()
    pg.screenshot(path=OUT / "search-why.png", full_page=True)

    pg.goto(f"{server}/profile?k=4")
    pg.get_by_text("Your profile is empty").wait_for(timeout=60_000)
    settle(pg)
    pg.screenshot(path=OUT / "profile-cold.png", full_page=True)
    pg.locator('[data-testid="stButton"] button').filter(has=pg.locator("span", has_text="thumb_up")).first.click()
    pg.get_by_text("Recommended for you").wait_for(timeout=60_000)
    settle(pg)
    assert pg.get_by_text(re.compile("closest to your liked")).count() >= 1
    pg.screenshot(path=OUT / "profile-liked.png", full_page=True)

    for name in ("recommend", "map", "compare"):
        pg.goto(f"{server}/{name}?q=a+round+ball&k=5")
        settle(pg)
        assert not pg.locator('[data-testid="stException"]').count(), name
        pg.screenshot(path=OUT / f"{name}.png", full_page=True)


def test_hostile_titles_render_as_text_and_run_nothing(server, page):
    pg = page
    pg.goto(f"{server}/?q=Evil+script+link&k=9&alpha=0")
    pg.get_by_text("Why these results").wait_for(timeout=120_000)
    settle(pg)
    assert any("Evil" in h for h in headings(pg))
    assert pg.get_by_text('onerror="window.__pwned=1"', exact=False).count() >= 1  # shown literally
    assert pg.evaluate("typeof window.__pwned") == "undefined"
    assert pg.locator("img[src='x']").count() == 0 and pg.locator("script", has_text="__pwned").count() == 0
    assert pg.locator("a[href^='javascript']").count() == 0
    pg.goto(f"{server}/catalog?store=demo")
    pg.get_by_role("heading", name="Catalog").wait_for(timeout=60_000)
    settle(pg)
    assert pg.evaluate("typeof window.__pwned") == "undefined"
    pg.screenshot(path=OUT / "hostile.png", full_page=True)


def shown_scores(pg) -> list[tuple[float, dict[str, float]]]:
    """Each card's score line ('score 0.742 = text +0.406 · image +0.337') as (score, {modality: contribution})."""
    out = []
    for line in scores(pg):
        total, _, parts = line.removeprefix("score ").partition(" = ")
        out.append((float(total), {m: float(v) for m, v in (p.split(" ") for p in parts.split(" · ") if p)}))
    return out


def test_alpha_keys_rescore_the_cards_as_the_library_does(server, browser_home, page):
    """Keys on the sidebar's alpha slider re-rank on screen exactly as mmrec_core ranks for those weights.

    On the Search page the slider is drawn by the results' fragment (pages/search.py), which reruns alone;
    the URL must still follow.
    """
    from mmrec_core.retrieval import Weights
    from mmrec_core.query import Engine, Query
    from mmrec_core.store import open_store

    eng = Engine(open_store(browser_home / "stores" / "demo"))
    pg = page
    pg.goto(f"{server}/?q=a+round+ball&k=5&wa=0&alpha=0.5")
    pg.get_by_text("Why these results").wait_for(timeout=120_000)
    settle(pg)
    thumb = pg.get_by_role("slider", name="Text ↔ image (alpha)")
    for key, alpha in (("ArrowRight", 0.51), ("ArrowRight", 0.52), ("Home", 0.0), ("PageUp", 0.1)):
        thumb.focus()
        thumb.press(key)
        pg.wait_for_url(re.compile(f"alpha={alpha:.2f}"), timeout=60_000)  # written at the end of the rerun
        settle(pg)
        want = eng.search(Query(text="a round ball"), Weights.from_alpha(alpha, audio=0.0), k=5)
        assert [h.replace("\u200b", "") for h in headings(pg)] == [f"{i}. {h.item['title']}" for i, h in enumerate(want, 1)]
        got = shown_scores(pg)
        assert len(got) == len(want), key
        for (score, parts), hit in zip(got, want):
            assert score == pytest.approx(hit.score, abs=0.0015)
            assert parts == pytest.approx({m: v for m, v in hit.contributions.items() if v}, abs=0.0015)
        assert f"wt={1 - alpha:.2f}" in pg.url and f"wi={alpha:.2f}" in pg.url
        assert not pg.locator('[data-testid="stException"]').count()
