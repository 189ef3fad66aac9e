"""Each dashboard page on a large store, in headless Chromium: seconds until the page shows its own content.

Starts `streamlit run app.py` with a home whose only store is STORE (linked, not copied), opens
Search with a text query, then Catalog, Embedding map, Compare and Profile, and prints how long
each took to show its content (the results, the gallery's count, the chart, the table); the first
round pays for one-time work (models, the store's facets), the second is what a user meets after.
Then the Catalog filter: typing a title filter until the new count shows. With --screenshots DIR,
a PNG of each page (second round) is saved there.

Usage: python bench/pages_at_scale.py STORE [--query "a red car"] [--screenshots DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import sys

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.browser import app_server, browser_page, settle  # noqa: E402

# (page, path, what shows that the page is done: a Playwright selector)
PAGES = [("search", "/?q={q}", "strong:text-matches('^1\\. ')"),
         ("catalog", "/catalog", "[data-testid='stCaptionContainer']:has-text('item(s)')"),
         ("map", "/map?q={q}", ".js-plotly-plot"),
         ("compare", "/compare?q={q}", "[data-testid='stDataFrame'], [data-testid='stTable']"),
         ("profile", "/profile", "strong:text-matches('^1\\. ')")]


def visit(pg, url: str, ready: str) -> float:
    """Seconds from navigation to the page's own content on screen and the script run over."""
    t0 = time.perf_counter()
    pg.goto(url)
    pg.locator(ready).first.wait_for(timeout=600_000)
    shown = time.perf_counter() - t0
    settle(pg, timeout=600)
    return shown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--query", default="a red fire truck")
    ap.add_argument("--filter", default="item 12345", help="what to type into the Catalog's title filter")
    ap.add_argument("--screenshots")
    args = ap.parse_args()
    store = Path(args.store).resolve()
    shots = Path(args.screenshots) if args.screenshots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "stores").mkdir()
        (Path(home) / "stores" / "big").symlink_to(store)
        with app_server(Path(home)) as url, browser_page() as pg:
            out = {}
            for rnd in ("first", "again"):
                for name, path, ready in PAGES:
                    sep = "&" if "?" in path else "?"
                    out[f"{name}_{rnd}_s"] = round(visit(pg, url + path.format(q=args.query.replace(" ", "+"))
                                                         + f"{sep}store=big", ready), 2)
                    if shots and rnd == "again":
                        pg.screenshot(path=str(shots / f"scale-{name}.png"), full_page=False)
            visit(pg, url + "/catalog?store=big", PAGES[1][2])
            t0 = time.perf_counter()
            count = pg.locator(PAGES[1][2]).first
            before = count.inner_text()
            box = pg.get_by_label("Filter by title or tag")
            box.fill(args.filter)
            box.press("Enter")
            while count.inner_text() == before and time.perf_counter() - t0 < 600:
                time.sleep(0.02)
            out["catalog_filter_s"] = round(time.perf_counter() - t0, 2)
            settle(pg, timeout=600)
            if shots:
                pg.screenshot(path=str(shots / "scale-catalog-filter.png"), full_page=False)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
