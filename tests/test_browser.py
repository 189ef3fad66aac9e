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

from helpers.browser import CHROMIUM, OUT, address, app_server, browser_page, exact_scores, headings, scores, settle

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
    assert "alpha=1.00" in address(pg) and "wt=0.00" in address(pg)
    pg.screenshot(path=OUT / "search-alpha1.png", full_page=True)

    pg.locator(".rr-card button[data-action=why]").first.click()  # the panel opens below the cards
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


def test_weights_rerank_in_the_page_exactly_as_the_library_and_the_server_hears_once(server, browser_home, page):
    """Keys on the alpha slider, a weight and the strategy re-rank the cards in the page (no round trip): after every
    move the cards' ids, scores and contributions are mmrec_core's for those weights (scores to 1e-6); a drag of 20
    steps sends the server one message; the address bar follows; like, Why and Similar work from the cards."""
    from mmrec_core.query import Engine, Query
    from mmrec_core.retrieval import Weights
    from mmrec_core.store import open_store

    eng = Engine(open_store(browser_home / "stores" / "demo"))
    pg = page
    sent: list[int] = []
    pg.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(1)))
    pg.goto(f"{server}/?q=a+round+ball&k=5&wa=0&alpha=0.5")
    pg.locator(".rr-card").first.wait_for(timeout=120_000)
    settle(pg)

    def check(weights: Weights, strategy: str = "weighted") -> None:
        want = eng.search(Query(text="a round ball"), weights, strategy=strategy, k=5)
        got = exact_scores(pg)
        assert [g[0] for g in got] == [h.id for h in want], (weights, strategy)
        for (_, score, parts), hit in zip(got, want):
            assert score == pytest.approx(hit.score, abs=1e-6)
            assert parts == pytest.approx([hit.contributions[m] for m in ("text", "image", "audio")], abs=1e-6)
        assert [h.replace("\u200b", "") for h in headings(pg)] == [f"{i}. {h.item['title']}" for i, h in enumerate(want, 1)]

    alpha = pg.get_by_role("slider", name="Text ↔ image (alpha)")
    for key, value in (("ArrowRight", 0.51), ("ArrowRight", 0.52), ("Home", 0.0), ("PageUp", 0.1), ("End", 1.0)):
        alpha.focus()
        alpha.press(key)
        check(Weights.from_alpha(value, audio=0.0))  # at once: nothing waited for the server
    assert not pg.locator('[data-testid="stException"]').count()

    alpha.press("Home")
    settle(pg)
    before = len(sent)
    for _ in range(20):  # a drag: 20 steps, each re-ranked in the page
        alpha.press("ArrowRight")
    check(Weights.from_alpha(0.2, audio=0.0))
    time.sleep(1.5)
    settle(pg)
    assert len(sent) - before == 1, f"{len(sent) - before} messages to the server for one drag"
    assert "alpha=0.20" in address(pg) and "wt=0.80" in address(pg)

    audio = pg.get_by_role("slider", name="Audio", exact=True)
    audio.focus()
    audio.press("End")
    check(Weights(text=0.8, image=0.2, audio=1.0))
    pg.get_by_label("Fusion strategy").select_option("rrf")
    check(Weights(text=0.8, image=0.2, audio=1.0), "rrf")
    pg.get_by_label("Fusion strategy").select_option("max")
    for m in ("Text", "Image", "Audio"):
        slider = pg.get_by_role("slider", name=m, exact=True)
        slider.focus()
        slider.press("Home")
    assert pg.locator(".rr-message").inner_text() == "max pooling needs at least one weight > 0"
    assert not pg.locator(".rr-card").count()  # the message, never a stale grid
    settle(pg)
    pg.get_by_label("Fusion strategy").select_option("weighted")
    assert "No item matches under these weights" in pg.locator(".rr-message").inner_text()
    alpha.focus()
    alpha.press("End")
    check(Weights(text=0.0, image=1.0, audio=0.0))
    settle(pg)
    assert "strategy=weighted" in address(pg) and "wi=1.00" in address(pg) and "wa=0.00" in address(pg)

    first = exact_scores(pg)[0][0]
    pg.locator(f'.rr-card[data-id="{first}"] button[data-action=like]').click()
    pg.wait_for_selector(f'.rr-card[data-id="{first}"] button[data-action=like][aria-pressed=true]', timeout=60_000)
    pg.locator(f'.rr-card[data-id="{first}"] button[data-action=why]').click()
    pg.get_by_text(re.compile("^Why “")).wait_for(timeout=60_000)
    settle(pg)
    assert not pg.locator('[data-testid="stException"]').count()
    assert pg.get_by_role("dialog").count() == 1  # the explanation opens over the cards, where the eye is
    pg.screenshot(path=OUT / "search-rerank.png", full_page=True)
    pg.get_by_role("dialog").get_by_test_id("stButton").get_by_role("button", name="Close").click()
    pg.get_by_role("dialog").wait_for(state="detached", timeout=60_000)
    settle(pg)
    pg.locator(f'.rr-card[data-id="{first}"] button[data-action=similar]').click()
    pg.get_by_role("button", name=re.compile("more like:")).wait_for(timeout=60_000)
    pg.locator(".rr-card").first.wait_for(timeout=60_000)
    settle(pg)
    assert first not in [c[0] for c in exact_scores(pg)]  # the seed itself is never a result
