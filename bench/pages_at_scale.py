"""Each dashboard page on a large store, in headless Chromium: time until the page's script run is over.

Starts `streamlit run app.py` with a home whose only store is STORE (linked, not copied), opens
Search with a text query, then Catalog, Catalog filtered, Embedding map, Compare and Profile (one
like first), and prints how long each took to settle (the first visit pays for one-time work such
as reading the store's facets; each page is then visited again). With --screenshots DIR, a PNG of
each page is saved there.

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

PAGES = [("search", "/?q={q}"), ("catalog", "/catalog"), ("map", "/map?q={q}"), ("compare", "/compare?q={q}"),
         ("profile", "/profile")]


def visit(pg, url: str) -> float:
    t0 = time.perf_counter()
    pg.goto(url)
    pg.wait_for_selector('[data-testid="stApp"]')
    settle(pg, timeout=600)
    return time.perf_counter() - t0 - 2.0  # settle waits ~2 s of quiet after the run ends


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--query", default="a red fire truck")
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
                for name, path in PAGES:
                    sep = "&" if "?" in path else "?"
                    out[f"{name}_{rnd}_s"] = round(visit(pg, url + path.format(q=args.query.replace(" ", "+"))
                                                         + f"{sep}store=big"), 2)
                    if shots and rnd == "again":
                        pg.screenshot(path=str(shots / f"scale-{name}.png"), full_page=False)
            pg.goto(url + "/catalog?store=big")
            settle(pg, timeout=600)
            t0 = time.perf_counter()
            box = pg.get_by_label("Filter by title or tag")
            box.fill("item 12345")
            box.press("Enter")
            settle(pg, timeout=600)
            out["catalog_filter_s"] = round(time.perf_counter() - t0 - 2.0, 2)
            if shots:
                pg.screenshot(path=str(shots / "scale-catalog-filter.png"), full_page=False)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
