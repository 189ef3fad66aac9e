"""Slider-move latency in a real browser: key press on the sidebar's alpha slider -> first changed score on screen.

Starts `streamlit run app.py` on a free port against a store (default: the demo store, built first as
`make run` does if missing), opens the Search page in headless Chromium (Debian's /usr/bin/chromium, the
browser tests' flags) with the default query and K, and presses ArrowRight / ArrowLeft on the alpha slider
`--moves` times (alpha 0.40 -> 0.60 by 0.01), waiting for the app to go quiet between moves. Each move is timed in
the page: from the keydown event to the animation frame after the first new score line in the DOM (the frame
that paints it). Prints one JSON line: median, p90 and every move in ms, also apart for the moves that kept
the ranking (only the scores redraw) and those that changed it (the cards redraw too).

The Search page re-ranks in the browser (pages/rerank/): its sliders and score lines sit in a component's shadow
root, which the probe watches too; other pages (and older checkouts) wait for the server's rerun.

Usage: python bench/browser_latency.py [--store DIR] [--moves 20] [--checkout DIR ...] [--load N] [--page NAME]
  --store DIR     a store folder (MMREC_HOME is DIR/../..); default $MMREC_HOME/stores/demo or .mmrec/stores/demo
  --checkout DIR  run the app.py of another checkout (e.g. `git worktree add /tmp/old HEAD~1`); repeat it to
                  measure before and after side by side in one run
  --load N        N other headless sessions (bench/load.py) use the same server while the moves are timed
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.browser import ARGS, CHROMIUM, free_port  # noqa: E402  (the browser tests' Chromium flags and port picker)

# Installed once in the page: keydown on a slider starts a move; the first score line on screen that was not
# there before ends it, at the next animation frame. A MutationObserver sees the DOM change as soon as React
# commits it. heads_now() !== heads once the app is quiet again: the move changed the ranking.
PROBE = """() => {
  // the Search page's cards live in a component's shadow root: look (and listen) there too
  const roots = () => [document, ...Array.from(document.querySelectorAll('*')).filter(e => e.shadowRoot).map(e => e.shadowRoot)];
  const texts = (sel, re) => roots().flatMap(r => Array.from(r.querySelectorAll(sel))).map(e => e.innerText).filter(t => re.test(t));
  const scores = () => texts('[data-testid="stCaptionContainer"], .rr-score', /^score /);
  const heads = () => texts('[data-testid="stMarkdownContainer"] strong, .rr-title', /^\\d+\\. /).join('\\n');
  const lat = window.__lat = {start: null, end: null, before: null, heads: null, heads_now: heads};
  document.addEventListener('keydown', e => {
    const on = e.composedPath().some(n => n.matches && n.matches('[data-testid="stSlider"], input[type=range]'));
    if (on) Object.assign(lat, {start: e.timeStamp, end: null, before: new Set(scores()), heads: heads()});
  }, true);
  const seen = () => {
    if (lat.start === null || lat.end !== null || lat.pending || scores().every(t => lat.before.has(t))) return;
    lat.pending = true;
    requestAnimationFrame(() => { lat.end = performance.now(); lat.pending = false; });
  };
  for (const r of roots()) new MutationObserver(seen).observe(r === document ? document.body : r, {subtree: true, childList: true, characterData: true});
}"""


def store_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg).resolve()
    return (Path(os.environ.get("MMREC_HOME") or ROOT / ".mmrec") / "stores" / "demo").resolve()


def ensure_demo(store: Path) -> None:
    """Build the demo store the way `make run` does (seconds: the demo's embeddings ship precomputed)."""
    if (store / "CURRENT").is_file():
        return
    if store.name != "demo":
        sys.exit(f"no store at {store} (expected {store / 'CURRENT'})")
    print(f"building the demo store at {store}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "mmrec_core", "ingest", str(ROOT / "assets" / "demo"), "--store", str(store)],
                   cwd=ROOT, check=True)


def start_server(app_dir: Path, home: Path, log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1"],
                            cwd=app_dir, env={**os.environ, "MMREC_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    sys.exit("streamlit did not start")


def quiet(pg, *, for_s: float = 0.4, timeout: float = 60) -> None:
    """Wait until no script run is going on (the status widget says nothing) for `for_s` seconds."""
    start = last_busy = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if pg.locator('[data-testid="stStatusWidget"]').get_by_text("Running").count():
            last_busy = time.perf_counter()
        elif time.perf_counter() - last_busy >= for_s:
            return
        time.sleep(0.05)
    raise TimeoutError("the app kept running")


def measure(url: str, store: str, moves: int, page: str = "") -> list[tuple[float, bool]]:
    """(ms, reranked) for each of `moves` ArrowRight presses on alpha, from 0.40 on (one more first, not counted)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1800})
        pg.goto(f"{url}/{page}?store={store}&alpha=0.39&k=12")
        pg.locator(".rr-card, [data-testid=stCaptionContainer]:has-text('score ')").first.wait_for(timeout=300_000)
        quiet(pg, for_s=2)
        pg.evaluate(PROBE)
        thumb = pg.get_by_role("slider", name="Text ↔ image (alpha)")
        out = []
        for i in range(moves + 1):  # the first move warms the path and is not counted
            thumb.focus()
            thumb.press("ArrowRight")
            pg.wait_for_function("() => window.__lat.end !== null", timeout=60_000)
            ms = pg.evaluate("() => window.__lat.end - window.__lat.start")
            quiet(pg)
            if i:
                out.append((ms, pg.evaluate("() => window.__lat.heads_now() !== window.__lat.heads")))
        browser.close()
    return out


def summary(times: list[float]) -> dict[str, float]:
    if not times:
        return {"moves": 0}
    p90 = statistics.quantiles(times, n=10, method="inclusive")[-1] if len(times) > 1 else times[0]
    return {"moves": len(times), "median_ms": round(statistics.median(times), 1), "p90_ms": round(p90, 1)}


def run_one(checkout: Path, store: Path, moves: int, load: int, page: str) -> dict:
    """Start the checkout's app, optionally `load` other Chromium sessions on it (bench/load.py), and time moves."""
    with tempfile.TemporaryFile() as log:
        proc, url = start_server(checkout, store.parent.parent, log)
        others = None
        try:
            if load:
                others = subprocess.Popen([sys.executable, str(ROOT / "bench" / "load.py"), "--url", url, "--sessions",
                                           str(load), "--minutes", "30"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                time.sleep(2 * load + 10)  # their staggered starts, then a loaded server
            moves_ms = measure(url, store.name, moves, page)
        except Exception:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-3000:])
            raise
        finally:
            if others is not None:
                others.terminate()
                others.wait(timeout=60)
            proc.terminate()
            proc.wait(timeout=30)
    ms = [t for t, _ in moves_ms]
    return {"store": str(store), "checkout": str(checkout), "page": page or "search", "other_sessions": load,
            **summary(ms), "min_ms": round(min(ms), 1), "max_ms": round(max(ms), 1),
            "ranking_kept": summary([t for t, r in moves_ms if not r]),
            "ranking_changed": summary([t for t, r in moves_ms if r]),
            "all_ms": [round(t, 1) for t in ms], "reranked": [bool(r) for _, r in moves_ms]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", help="a store folder; default the demo store")
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--checkout", type=Path, action="append",
                        help="the checkout whose app.py runs (repeat to compare, one after the other in this run)")
    parser.add_argument("--load", type=int, default=0, help="other Chromium sessions working on the server meanwhile")
    parser.add_argument("--page", default="", help="the page to move alpha on (default: Search)")
    args = parser.parse_args()
    store = store_dir(args.store)
    ensure_demo(store)
    rows = [run_one(c.resolve(), store, args.moves, args.load, args.page) for c in (args.checkout or [ROOT])]
    for row in rows:
        print(json.dumps(row))
    for row in rows[1:]:
        print(f"median {rows[0]['checkout']}: {rows[0]['median_ms']} ms; {row['checkout']}: {row['median_ms']} ms; "
              f"ratio {rows[0]['median_ms'] / row['median_ms']:.1f}x")


if __name__ == "__main__":
    main()
