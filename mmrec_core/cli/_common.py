"""What every command shares: progress lines on stderr."""

from __future__ import annotations

import sys


def progress_printer(stream=sys.stderr):
    """A progress(stage, done, total) callback that prints one line per stage, updated every 10%."""
    last: dict[str, int] = {}

    def progress(stage: str, done: int, total: int) -> None:
        pct = int(100 * done / total) if total else 100
        if last.get(stage) != pct // 10 or done == total:
            last[stage] = pct // 10
            print(f"\r{stage:>6}: {done}/{total} ({pct}%)", end="\n" if done >= total else "", file=stream, flush=True)

    return progress
