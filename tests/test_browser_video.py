"""Video results in a real browser: a text query finds clips, each card plays its video from the matching frame."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import pytest

from helpers.browser import CHROMIUM, OUT, app_server, browser_page, headings, settle

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ("dog", "cockatoo", "rocket", "blupi-bulldozer", "blupi-spider", "tree")  # a few of assets/video

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's /usr/bin/chromium (apt install chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    from mmrec_core.ingest import ingest

    home = tmp_path_factory.mktemp("video-home")
    src = ROOT / "assets" / "video"
    (home / "catalog" / "clips").mkdir(parents=True)
    with open(src / "catalog.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["id"] in CLIPS]
    with open(home / "catalog" / "catalog.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        shutil.copyfile(src / r["video"], home / "catalog" / r["video"])
    ingest(home / "catalog", home / "stores" / "demo")
    with app_server(home) as url:
        yield url


def test_a_text_query_shows_video_cards_that_start_at_the_best_frame(server):
    with browser_page() as pg:
        pg.goto(f"{server}/?q=a+white+dog&k=4&alpha=1")
        pg.get_by_text("Why these results").wait_for(timeout=120_000)
        settle(pg)
        assert not pg.locator('[data-testid="stException"]').count()
        assert any(h.endswith("White dog") for h in headings(pg))  # the offline encoder may rank the white cockatoo first
        videos = pg.locator("video")
        assert videos.count() == 4
        notes = pg.get_by_text("best-matching frame at").all_inner_texts()
        assert len(notes) == 4
        # every player is positioned at its card's matching frame (a media fragment #t=, to the tenth shown)
        deadline = time.time() + 30
        while time.time() < deadline and videos.evaluate_all("vs => vs.some(v => v.readyState < 1)"):
            time.sleep(0.5)
        starts = videos.evaluate_all("vs => vs.map(v => v.currentTime)")
        clocks = [n.split("at ")[1].split(" ")[0].split(":") for n in notes]
        assert starts == pytest.approx([int(m) * 60 + float(sec) for m, sec in clocks], abs=0.06)
        pg.screenshot(path=OUT / "video-search.png", full_page=True)
        # a clip as the query: uploaded through the page's video uploader, it finds itself first
        pg.goto(f"{server}/?k=3&alpha=1")
        pg.get_by_role("heading", name="Search").wait_for(timeout=60_000)
        settle(pg)
        pg.locator('input[type="file"]').nth(2).set_input_files(str(ROOT / "assets" / "video" / "clips" / "rocket.mp4"))
        pg.get_by_text("Why these results").wait_for(timeout=120_000)
        settle(pg)
        assert headings(pg)[0].endswith("Rocket launch") and pg.get_by_text("video: rocket.mp4").count() == 1
        pg.screenshot(path=OUT / "video-query.png", full_page=True)
        pg.goto(f"{server}/catalog")
        pg.get_by_role("heading", name="Catalog").wait_for(timeout=60_000)
        settle(pg)
        assert pg.locator("video").count() == len(CLIPS)
        pg.screenshot(path=OUT / "video-catalog.png", full_page=True)
