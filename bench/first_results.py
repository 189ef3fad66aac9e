"""Time from `streamlit run app.py` to the first page showing search results, in headless Chromium.

Starts a fresh server on a free port against the demo store (built beforehand, as `make run`
does) and polls the page until the first result card's title is visible. Run it twice to see
a cold (first model load in the process) and a warm OS page cache. MMREC_RUNTIME=torch|openvino picks the
runtime of the towers (see mmrec_core/encoders/_runtime.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.browser import ARGS, free_port  # noqa: E402  (the browser tests' Chromium flags and port picker)


def main() -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                               "--server.headless", "true"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ, "MMREC_HOME": str(ROOT / ".mmrec")})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page()
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/")
                    break
                except Exception:
                    time.sleep(0.2)
            served = time.perf_counter() - start
            page.get_by_text("1. ", exact=False).first.wait_for(timeout=300_000)
            shown = time.perf_counter() - start
            browser.close()
    finally:
        server.terminate()
        server.wait()
    print(f"runtime {os.environ.get('MMREC_RUNTIME') or 'default'}: server answering after {served:.1f} s; first results "
          f"on screen after {shown:.1f} s, {shown - served:.1f} s after the page opened")


if __name__ == "__main__":
    main()
