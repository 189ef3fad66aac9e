"""Text queries on a catalog the offline encoder never saw, in the real app: a store and screenshots.

Builds a catalog of Wesnoth's pictures (portraits, units, items, scenery) and GNOME's icons, the
unseen test sets of bench/aligned_eval.py (never trained on), ingests it with the default encoder
into STORE (once), prints each query's top 5 by picture alone (alpha = 1), and with
--screenshots DIR saves the Search page for each query (headless Chromium).
Usage: python bench/unseen_screens.py [--store .mmrec/stores/unseen] [--screenshots DIR] [QUERY ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

from aligned_sources import pairs  # noqa: E402

QUERIES = ("dragon", "a skeleton warrior", "treasure chest", "printer", "horse", "battery")


def build_catalog(folder: Path) -> Path:
    """catalog.csv of the unseen pictures; title = the caption, no description (the caption is all there is)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "description", "image", "category"])
        for source in ("wesnoth", "gnome"):
            for i, p in enumerate(pairs(source)):
                image = f"images/{source}-{i:04d}{Path(p.image).suffix}"  # a catalog's media lie inside it
                shutil.copyfile(p.image, folder / image)
                w.writerow([f"{source}/{p.id}", p.texts[0], "", image, p.category])
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("queries", nargs="*", default=list(QUERIES))
    ap.add_argument("--store", type=Path, default=ROOT / ".mmrec" / "stores" / "unseen")
    ap.add_argument("--screenshots", type=Path)
    args = ap.parse_args()
    if not (args.store / "CURRENT").exists():
        catalog = build_catalog(args.store.parent / f"{args.store.name}-catalog")
        subprocess.run([sys.executable, "-m", "mmrec_core", "ingest", str(catalog), "--store", str(args.store)],
                       check=True, cwd=ROOT)
    from mmrec_core.retrieval import Weights
    from mmrec_core.query import Engine, Query
    from mmrec_core.store import open_store

    store = open_store(args.store)
    if store.counts()["image"] == 0:
        raise SystemExit(f"{args.store} holds no images; delete it and run again")
    engine = Engine(store)
    for q in args.queries:  # alpha = 1: the query text against the pictures only, not against their captions
        hits = engine.search(Query(text=q), Weights.from_alpha(1.0), k=5)
        print(json.dumps({"query": q, "top5": [h.item.get("title", "") for h in hits]}))
    if args.screenshots:
        from helpers.browser import app_server, browser_page, settle

        args.screenshots.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as home:
            (Path(home) / "stores").mkdir()
            (Path(home) / "stores" / "unseen").symlink_to(args.store.resolve())
            with app_server(Path(home)) as url, browser_page() as pg:
                for q in args.queries:
                    pg.goto(f"{url}/?q={q.replace(' ', '+')}&alpha=1&store=unseen")
                    settle(pg, timeout=600)
                    pg.locator("strong:text-matches('^1\\. ')").first.wait_for(timeout=120_000)
                    pg.screenshot(path=str(args.screenshots / f"unseen-{q.replace(' ', '-')}.png"), full_page=False)


if __name__ == "__main__":
    main()
