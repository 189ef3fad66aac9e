"""A real browser against `streamlit run app.py`: the server, the page, and waiting for a script run to end."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "out"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(home: Path, *, flags: Sequence[str] = (), **env_vars: str) -> Iterator[str]:
    """`streamlit run app.py` with MMREC_HOME=home (its stores/ holds the stores), env_vars and Streamlit's command
    line `flags` (e.g. "--secrets.files", PATH); yields the base URL."""
    port = free_port()
    env = {**os.environ, "MMREC_HOME": str(home), **env_vars}
    log = open(home / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--server.address", "127.0.0.1", *flags], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"streamlit did not start: {(home / 'streamlit.log').read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def browser_page() -> Iterator[object]:
    """A headless Chromium page (Debian's browser); fails if any request leaves the machine."""
    sync_api = pytest.importorskip("playwright.sync_api")
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1800})
        outside = []  # mmrec runs offline: no page may fetch anything from another host
        pg.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "http://localhost", "data:", "blob:")) else None)
        yield pg
        browser.close()
        assert not outside, f"requests left the machine: {sorted(set(outside))[:5]}"


def settle(pg, timeout: float = 120) -> None:
    """Wait until the script run is over: no spinner, skeleton or 'Running' status for about two seconds."""
    start, quiet = time.time(), 0
    while time.time() - start < timeout:
        busy = pg.locator('[data-testid="stSpinner"], [data-testid="stSkeleton"]').count()
        busy += pg.locator('[data-testid="stStatusWidget"]').get_by_text(re.compile("Running|Connecting")).count()
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 4:
            return
        time.sleep(0.5)
    raise AssertionError("the app kept running")


def headings(pg) -> list[str]:
    """Result card titles in order ('1. Red ball' ...): Streamlit's cards, or the Search page's re-ranked ones."""
    drawn = pg.locator('[data-testid="stMarkdownContainer"] strong').all_inner_texts() + pg.locator(".rr-title").all_inner_texts()
    return [t for t in drawn if re.match(r"^\d+\. ", t)]


def scores(pg) -> list[str]:
    """Result score lines in order ('score 0.742 = text +0.406 · image +0.337' ...)."""
    drawn = pg.locator('[data-testid="stCaptionContainer"]').all_inner_texts() + pg.locator(".rr-score").all_inner_texts()
    return [t for t in drawn if t.startswith("score ")]


def exact_scores(pg) -> list[tuple[str, float, list[float]]]:
    """The Search page's cards as (item id, score, contributions per modality) at full precision, in order."""
    return pg.eval_on_selector_all(".rr-card", "cards => cards.map(c => [c.dataset.id, Number(c.dataset.score), "
                                               "JSON.parse(c.dataset.contributions)])")


def address(pg) -> str:
    """The address bar now (page.url can lag behind history.replaceState)."""
    return pg.evaluate("location.href")
