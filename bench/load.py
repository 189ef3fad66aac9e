"""Many people on one dashboard: N headless-Chromium sessions for M minutes against one `streamlit run` server.

Starts a fresh server (as `make run` does, on the demo store), then N browser sessions (one Chromium,
one context each, starts staggered by 2 s) that repeat until the time is up: open the Search page with
a query, type another query, move the alpha slider three times, open Why on the first result, open
the Embedding map and the Profile page. Every action waits for its own content (results, a changed
score, the explanation, the chart, the profile) for up to --timeout seconds; one that does not
appear counts as unanswered. Prints one JSON line: per action count, answered, median and p90 in
seconds; exception boxes seen; the server's CPU seconds per action and its peak memory, and the
machine's other CPU time (mostly the browsers), so the server's share can be told from the clients'.
The server's resident memory is sampled every 2 s: its value when the first third of the run (the warm-up) ends,
at the end, its peak, and its growth after the warm-up (least squares, MB per minute), to tell a leak from a
cache filling up.

--shared runs the dashboard as it is shared with stakeholders (MMREC_MODE=shared, a fresh MMREC_HOME whose demo
store is the built-in one, read-only there): the sessions are anonymous viewers. --editor adds one more session
that signs in as an editor and, until the time is up, uploads a 30-item catalog with pictures and sounds (a zip
cut from the demo, the next 30 items each time) as a new store and waits until it is ingested and open; the
server gets an empty embedding cache (the converted models linked in), so every upload is really encoded.

Usage: python bench/load.py [--sessions 10] [--minutes 5] [--timeout 120] [--shared [--editor]]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import re
import statistics
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_latency import start_server  # noqa: E402  (bench/: the benchmarks' one way to start `streamlit run`)
from helpers.browser import ARGS  # noqa: E402  (the browser tests' Chromium flags)

QUERIES = ["a penguin", "a round ball", "a red car", "a cat", "a tree", "a guitar", "a house", "a fish",
           "a robot", "an apple", "a star", "a dog barking", "a bell", "a flower", "a boat", "a bird singing"]
CLK = os.sysconf("SC_CLK_TCK")
CARD = ".rr-card, [data-testid=stCaptionContainer]:has-text('score ')"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children that it waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / CLK


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy (user + nice + system + irq + softirq)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(fields[i]) for i in (0, 1, 2, 5, 6)) / CLK


def peak_rss_gb(pid: int) -> float:
    return _status_gb(pid, "VmHWM:")


def _status_gb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1e6
    return 0.0


class MemorySampler(threading.Thread):
    """The server's resident memory every `every` seconds, in GB, with the time since the start."""

    def __init__(self, pid: int, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, []
        self.done = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while not self.done.wait(self.every):
            try:
                self.samples.append((time.perf_counter() - start, _status_gb(self.pid, "VmRSS:")))
            except OSError:
                return

    def summary(self, warm_up_s: float) -> dict[str, float | None]:
        after = [(t, m) for t, m in self.samples if t >= warm_up_s]
        if len(after) < 2:
            return {"warm_gb": None, "end_gb": None, "growth_after_warm_up_mb_per_min": None}
        t = [a for a, _ in after]
        m = [b for _, b in after]
        mt, mm = statistics.fmean(t), statistics.fmean(m)
        slope = sum((a - mt) * (b - mm) for a, b in after) / max(sum((a - mt) ** 2 for a in t), 1e-9)
        minutes = {int(a // 60): b for a, b in self.samples}  # the last sample of each minute
        return {"warm_gb": round(m[0], 3), "end_gb": round(m[-1], 3),
                "growth_after_warm_up_mb_per_min": round(slope * 1000 * 60, 1),
                "by_minute_gb": [round(minutes[k], 3) for k in sorted(minutes)]}


class Log:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.missed: dict[str, int] = defaultdict(int)
        self.exceptions = 0

    async def timed(self, name: str, coro) -> bool:
        start = time.perf_counter()
        try:
            await coro
        except Exception:  # a timeout or a page that broke: unanswered
            self.missed[name] += 1
            return False
        self.times[name].append(time.perf_counter() - start)
        return True

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for name in sorted(set(self.times) | set(self.missed)):
            t = sorted(self.times[name])
            out[name] = {"count": len(t) + self.missed[name], "answered": len(t),
                         "median_s": round(statistics.median(t), 3) if t else None,
                         "p90_s": round(t[int(0.9 * (len(t) - 1))], 3) if t else None}
        return out


async def first_score(pg) -> str:
    loc = pg.locator('[data-testid="stCaptionContainer"], .rr-score').filter(has_text=re.compile(r"^score "))
    return await loc.first.inner_text() if await loc.count() else ""


async def score_changed(pg, before: str, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        now = await first_score(pg)
        if now and now != before:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the score did not change")


async def one_session(browser, url: str, i: int, stop_at: float, timeout: float, log: Log) -> None:
    await asyncio.sleep(2 * i)
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1600})
    pg = await ctx.new_page()
    ms = timeout * 1000
    n = i
    while time.perf_counter() < stop_at:
        q = QUERIES[n % len(QUERIES)].replace(" ", "+")
        n += 1
        # the cards re-ranked in the page (.rr-card), or an older checkout's Streamlit cards
        ok = await log.timed("open search + query", _open(pg, f"{url}/?q={q}&k=8", None, ms, css=CARD))
        if ok:
            box = pg.get_by_label("Describe what you are looking for")
            before = await first_score(pg)
            await box.fill(QUERIES[n % len(QUERIES)])
            await log.timed("typed query", _after_press(box, "Enter", pg, before, timeout))
            thumb = pg.get_by_role("slider", name="Text ↔ image (alpha)")
            for _ in range(3):
                if time.perf_counter() >= stop_at:
                    break
                before = await first_score(pg)
                await thumb.focus()
                await log.timed("slider move", _after_press(thumb, "ArrowRight", pg, before, timeout))
            why = pg.locator(".rr-card button[data-action=why], [data-testid=stButton] button:has-text('Why')").first
            await log.timed("why", _click_then(why, pg.get_by_text(re.compile("^Why “")).first, ms))
        log.exceptions += await pg.locator('[data-testid="stException"]').count()
        if time.perf_counter() >= stop_at:
            break
        await log.timed("embedding map", _open(pg, f"{url}/map?q={q}&k=8", None, ms, css=".js-plotly-plot"))
        log.exceptions += await pg.locator('[data-testid="stException"]').count()
        if time.perf_counter() >= stop_at:
            break
        await log.timed("profile", _open(pg, f"{url}/profile?k=8", "Your profile is empty", ms))
        log.exceptions += await pg.locator('[data-testid="stException"]').count()
    await ctx.close()


async def _open(pg, address: str, text: str | None, ms: float, css: str | None = None) -> None:
    await pg.goto(address, timeout=ms)
    target = pg.locator(css).first if css else pg.get_by_text(text).first
    await target.wait_for(timeout=ms)


async def _after_press(loc, key: str, pg, before: str, timeout: float) -> None:
    await loc.press(key)
    await score_changed(pg, before, timeout)


async def _click_then(button, target, ms: float) -> None:
    await button.click(timeout=ms)
    await target.wait_for(timeout=ms)


async def editor_session(browser, url: str, stop_at: float, timeout: float, log: Log, editor: tuple[str, str],
                         upload: Path) -> None:
    """Sign in as the editor, then upload the demo 30 items at a time (zips in `upload`) until the time is up."""
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1600})
    pg = await ctx.new_page()
    ms = timeout * 1000
    await pg.goto(f"{url}/catalog", timeout=ms)
    await pg.get_by_text("Editors: sign in").click(timeout=ms)
    await pg.get_by_label("User name").fill(editor[0])
    await pg.get_by_role("textbox", name="Password").fill(editor[1])
    await pg.get_by_role("button", name="Sign in").click()
    if not await log.timed("editor sign-in", pg.get_by_text("Signed in as").wait_for(timeout=ms)):
        await ctx.close()
        return
    n = 0
    while time.perf_counter() < stop_at:
        n += 1
        file_input = pg.locator('[data-testid="stFileUploader"] input[type="file"]')
        for _ in range(10):  # the page may still be redrawing after the last upload (tabs back on the first)
            await pg.get_by_role("tab", name="Add a catalog").click(timeout=ms)
            try:
                await file_input.wait_for(state="attached", timeout=2000)
                break
            except Exception:  # noqa: BLE001
                await asyncio.sleep(1)
        await pg.get_by_label("Name of the new store").fill(f"upload-{n}")
        archive = upload_zip(upload / f"upload-{n}.zip", 30 * (n - 1))
        async with pg.expect_response(lambda r: "_stcore/upload_file" in r.url and r.request.method == "PUT",
                                      timeout=ms):  # the file reached the server: only then submit
            await file_input.set_input_files(str(archive))
        done = pg.get_by_text(f"upload-{n}").filter(has_text="It is now the open store").first
        if not await log.timed("editor upload + ingest", _click_then(pg.get_by_role("button", name="Ingest"), done, ms)):
            alerts = await pg.locator('[data-testid="stAlert"]').all_inner_texts()
            print(f"upload-{n} not answered; the page says: {alerts}", file=sys.stderr)
        log.exceptions += await pg.locator('[data-testid="stException"]').count()  # stays on the page: a reload
    await ctx.close()  # would start a new session, signed out


async def drive(url: str, sessions: int, seconds: float, timeout: float,
                editor: tuple[str, str] | None = None, upload: Path | None = None) -> Log:
    from playwright.async_api import async_playwright

    log = Log()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        stop_at = time.perf_counter() + seconds
        runs = [one_session(browser, url, i, stop_at, timeout, log) for i in range(sessions)]
        if editor and upload:
            runs.append(editor_session(browser, url, stop_at, timeout, log, editor, upload))
        await asyncio.gather(*runs)
        await browser.close()
    return log


def shared_home(home: Path, demo: Path) -> tuple[str, str]:
    """A shared dashboard's MMREC_HOME: the built-in demo store linked in, settings, one editor; -> (name, password)."""
    from mmrec_core import access

    (home / "stores").mkdir(parents=True)
    (home / "stores" / "demo").symlink_to(demo.resolve())
    (home / "settings.toml").write_text('mode = "shared"\nuploads_per_hour = 120\n')
    password = secrets.token_urlsafe(12)
    access.save_user(home / "users.toml", "editor", password, "editor")
    return "editor", password


def upload_zip(dest: Path, start: int, n: int = 30) -> Path:
    """A zip of `n` demo items from row `start` on (wrapping around), pictures and sounds included."""
    demo = ROOT / "assets" / "demo"
    with open(demo / "catalog.csv", newline="", encoding="utf-8") as f:
        every = list(csv.DictReader(f))
    rows = [every[(start + i) % len(every)] for i in range(n)]
    table = io.StringIO()
    w = csv.DictWriter(table, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    with zipfile.ZipFile(dest, "w") as z:
        z.writestr("catalog.csv", table.getvalue())
        for row in rows:
            for col in ("image", "audio"):
                if row.get(col):
                    z.write(demo / row[col], row[col])
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--url", help="drive a server that is already running (no server CPU or memory is reported)")
    ap.add_argument("--shared", action="store_true", help="MMREC_MODE=shared: the sessions are anonymous viewers")
    ap.add_argument("--editor", action="store_true", help="with --shared: one more session, an editor uploading")
    args = ap.parse_args()
    if args.url:
        log = asyncio.run(drive(args.url, args.sessions, args.minutes * 60, args.timeout))
        print(json.dumps({"sessions": args.sessions, "minutes": args.minutes, "actions": log.summary(),
                          "exception_boxes": log.exceptions}))
        return
    home = Path(os.environ.get("MMREC_HOME", ROOT / ".mmrec"))
    if not (home / "stores" / "demo" / "CURRENT").is_file():
        subprocess.run([sys.executable, "-m", "mmrec_core", "ingest", str(ROOT / "assets" / "demo"),
                        "--store", str(home / "stores" / "demo")], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        editor = upload = None
        if args.shared:
            demo, home = home / "stores" / "demo", Path(tmp) / "home"
            editor = shared_home(home, demo)
            upload = Path(tmp) if args.editor else None
            if args.editor:  # an empty embedding cache, so uploads are encoded; the converted models linked in
                from mmrec_core.encoders._base import cache_dir

                (Path(tmp) / "cache").mkdir()
                if (cache_dir() / "runtime").is_dir():
                    (Path(tmp) / "cache" / "runtime").symlink_to(cache_dir() / "runtime")
                os.environ["MMREC_CACHE_DIR"] = str(Path(tmp) / "cache")
        server, url = start_server(ROOT, home, subprocess.DEVNULL)
        memory = MemorySampler(server.pid)
        try:
            memory.start()
            cpu0, all0, t0 = cpu_seconds(server.pid), machine_cpu_seconds(), time.perf_counter()
            log = asyncio.run(drive(url, args.sessions, args.minutes * 60, args.timeout, editor if args.editor else None,
                                    upload))
            cpu, total, wall = cpu_seconds(server.pid) - cpu0, machine_cpu_seconds() - all0, time.perf_counter() - t0
            peak = peak_rss_gb(server.pid)
        finally:
            memory.done.set()
            server.terminate()
            server.wait()
        uploaded = sorted(p.name for p in (home / "stores").iterdir() if p.name.startswith("upload-")) if args.shared else []
    actions = log.summary()
    n = sum(a["count"] for a in actions.values())
    print(json.dumps({"sessions": args.sessions, "minutes": args.minutes, "mode": "shared" if args.shared else "local",
                      "editor": bool(args.editor), "wall_s": round(wall, 1),
                      "actions": actions, "exception_boxes": log.exceptions, "stores_uploaded": len(uploaded),
                      "server_cpu_s": round(cpu, 1), "server_cpu_s_per_action": round(cpu / max(n, 1), 3),
                      "other_cpu_s": round(total - cpu, 1), "server_peak_rss_gb": round(peak, 2),
                      "server_rss": memory.summary(wall / 3),
                      "runtime": os.environ.get("MMREC_RUNTIME") or "default"}))


if __name__ == "__main__":
    main()
