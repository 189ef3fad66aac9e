"""How long a "why" explanation takes on the demo, per kind; optionally screenshots of it and of the fit panel.

Times `explain_item` (models warm) for text queries (words + image map) on the demo's first queries'
top results, and for sound queries (windows along the clip). With --screenshots DIR, it also starts
the app on a copy of the demo store and saves, from headless Chromium: the Fit the weights panel,
and a text, a sound and a video explanation (the video one needs the video demo: it is built).
Usage: python bench/explain.py [--n 10] [--screenshots bench/out]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from mmrec_core.insight import explain_item  # noqa: E402
from mmrec_core.retrieval import Weights  # noqa: E402
from mmrec_core.ingest import ingest  # noqa: E402
from mmrec_core.query import Engine, Query  # noqa: E402
from mmrec_core.retrieval import rank  # noqa: E402


def timings(engine: Engine, n: int) -> None:
    import csv

    with open(ROOT / "assets" / "demo" / "queries.csv", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)][:n]
    explain_item(engine, "warm up", engine.vectors(Query(text="warm up")), 0)  # models load outside the timings
    runs = {"text (words + image)": [], "sound (windows)": []}
    for text in texts:
        qv = engine.vectors(Query(text=text))
        row = int(rank(engine.candidates(qv), Weights(), k=1).rows[0])
        runs["text (words + image)"].append(explain_item(engine, text, qv, row).seconds)
    sounds = [r for r, it in enumerate(engine.store.items) if it.get("audio")][:n]
    for row in sounds:
        qv = engine.vectors(Query(audio=engine.store.media_path(engine.store.items[row]["audio"])))
        runs["sound (windows)"].append(explain_item(engine, "", qv, row).seconds)
    for kind, secs in runs.items():
        print(json.dumps({"bench": "explain", "kind": kind, "n": len(secs), "median_s": round(statistics.median(secs), 3),
                          "max_s": round(max(secs), 3)}))


def screenshots(demo_store: Path, out: Path) -> None:
    from helpers.browser import app_server, browser_page, settle

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        shutil.copytree(demo_store, home / "stores" / "demo")
        ingest(ROOT / "assets" / "video", home / "stores" / "videos")
        with app_server(home) as url, browser_page() as pg:
            pg.goto(f"{url}/compare?store=demo&k=10")
            pg.get_by_role("heading", name="Compare & evaluate").wait_for(timeout=120_000)
            settle(pg)
            pg.get_by_role("tab", name="Fit the weights").click()
            settle(pg)
            pg.get_by_role("button", name=re.compile("^Fit the weights")).click()
            pg.get_by_text(re.compile("settings scored")).wait_for(timeout=300_000)
            settle(pg)
            pg.screenshot(path=out / "fit-weights.png", full_page=True)
            for name, link, upload in (("why-text", "?store=demo&q=a+green+frog+on+a+leaf&k=4", None),
                                       ("why-sound", "?store=demo&q=&k=4",
                                        ROOT / "assets" / "demo" / "sounds" / "animals-birds-duck.ogg"),
                                       ("why-video", "?store=videos&q=a+dog&k=4&alpha=1", None)):
                pg.goto(f"{url}/{link}")
                settle(pg)
                if upload is not None:
                    pg.locator('input[type="file"]').nth(1).set_input_files(str(upload))
                pg.get_by_text("Why these results").wait_for(timeout=120_000)
                settle(pg)
                pg.locator('[data-testid="stButton"] button').filter(has_text="Why").first.click()
                pg.get_by_text(re.compile("^Why “")).wait_for(timeout=120_000)
                settle(pg)
                pg.screenshot(path=out / f"{name}.png", full_page=True)
    print(json.dumps({"bench": "screenshots", "folder": str(out)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10, help="queries per kind")
    parser.add_argument("--screenshots", type=Path, help="also save screenshots to this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ingest(ROOT / "assets" / "demo", Path(tmp) / "demo").store  # from the shipped embeddings: seconds
        t = time.perf_counter()
        engine = Engine(store)
        timings(engine, args.n)
        print(json.dumps({"bench": "explain", "total_s": round(time.perf_counter() - t, 1)}), file=sys.stderr)
        if args.screenshots:
            screenshots(store.path, args.screenshots)


if __name__ == "__main__":
    main()
