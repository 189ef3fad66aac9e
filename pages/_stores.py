"""Stores and engines for the pages: one Engine per store version for all sessions, builds with progress bars."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import streamlit as st

from mmrec_core import session
from mmrec_core.catalog import Catalog
from mmrec_core.encoders import DEFAULT_ENCODER
from mmrec_core.errors import MMRecError, StoreError
from mmrec_core.query import Engine
from mmrec_core.store import delete_store as remove_store
from mmrec_core.store import list_stores, open_store, prune_uploaded, sweep_stale_uploads
from pages._state import APP_FILE, set_view, ss

DEMO_SRC = APP_FILE.parent / "assets" / "demo"
VIDEO_DEMO_SRC, VIDEO_DEMO_STORE = APP_FILE.parent / "assets" / "video", "videos"
T = TypeVar("T")
# Heavy per-session work (Why, t-SNE, ingest, training, weight fitting) runs this many at a time in the
# process, leaving a core to the searches and slider moves of everyone else.
HEAVY_SLOTS = int(os.environ.get("MMREC_HEAVY_SLOTS", max(1, (os.cpu_count() or 2) - 1)))


@st.cache_resource(show_spinner=False, max_entries=8)
def _engine(path: str, version: str) -> Engine:
    """One Engine per store version, shared by every session (it is read-only and thread-safe)."""
    return Engine(open_store(path))


@st.cache_resource(show_spinner=False)
def _build_lock() -> threading.Lock:
    return threading.Lock()


@st.cache_resource(show_spinner=False)
def _swept(root: str) -> int:
    """Once per process: remove work folders a killed upload or ingest left behind, and uploaded stores past the
    configured age (settings' prune_uploads_days)."""
    from pages._access import settings

    days = settings().prune_uploads_days
    pruned = prune_uploaded(Path(root), days * 86400) if settings().shared and days else []
    return len(sweep_stale_uploads(Path(root))) + len(pruned)


class _Gate:
    """A counting semaphore that knows how many wait (to say "waiting behind N")."""

    def __init__(self, slots: int) -> None:
        self.slots, self.busy, self.waiting = max(1, slots), 0, 0
        self.cond = threading.Condition()


@st.cache_resource(show_spinner=False)
def _gate() -> _Gate:
    return _Gate(HEAVY_SLOTS)


@contextlib.contextmanager
def heavy(what: str) -> Iterator[None]:
    """Run the block when one of the process's HEAVY_SLOTS is free, showing "waiting behind N" meanwhile."""
    gate = _gate()
    with gate.cond:
        if gate.busy < gate.slots:
            gate.busy += 1
            note = None
        else:
            note = st.empty()
            gate.waiting += 1
            ahead = gate.waiting + gate.busy - gate.slots
            note.info(f"{what} is waiting behind {ahead} other heavy task{'s' * (ahead != 1)} on this server…")
            while gate.busy >= gate.slots:
                gate.cond.wait()
            gate.waiting -= 1
            gate.busy += 1
    if note is not None:
        note.empty()
    try:
        yield
    finally:
        with gate.cond:
            gate.busy -= 1
            gate.cond.notify()


def open_store_view(name: str) -> None:
    """Show store `name` from the next run on: its own search, no pending encoder request."""
    set_view(store=name, items=())
    ss.search_cache = {}
    ss.encode_request = None


def build_store_aside(name: str, build: Callable[[Path], T]) -> T:
    """Run build(folder) to write a new store in a work folder under the stores root, then move it in as `name`.

    The caller makes sure `name` is free. Nothing is moved if build raises; a killed build leaves only a
    `.upload-*` work folder, which sweep_stale_uploads removes later.
    """
    root = session.stores_root()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".upload-") as tmp:
        result = build(Path(tmp) / "store")
        shutil.move(Path(tmp) / "store", root / name)
    return result


def open_video_demo() -> None:
    """Button callback's work: build the 'videos' store from assets/video once (with progress), then open it."""
    if not (session.stores_root() / VIDEO_DEMO_STORE / "CURRENT").is_file():
        with _build_lock():
            if not (session.stores_root() / VIDEO_DEMO_STORE / "CURRENT").is_file():
                build_store_aside(VIDEO_DEMO_STORE, lambda dest: ingest_with_progress(
                    VIDEO_DEMO_SRC, dest, "Building the video demo (30 clips: frames and soundtracks)"))
    open_store_view(VIDEO_DEMO_STORE)


def store_names() -> list[str]:
    _swept(str(session.stores_root()))
    return [p.name for p in list_stores(session.stores_root())]


def delete_store(name: str) -> None:
    """Remove store `name` from disk (mmrec_core.store.delete_store). Sessions that have it open fall back to the demo on their next run (engine() finds no store there)."""
    path = session.stores_root() / session.valid_store_name(name)
    if not (path / "CURRENT").is_file():
        raise StoreError(f"no store named {name!r}")
    with _build_lock():  # not while a build moves a store in
        remove_store(path)
    if ss.view.store == name:
        set_view(store=session.DEFAULT_STORE, items=())


def ingest_with_progress(src: Path | Catalog, dest: Path, label: str, encoder: str = DEFAULT_ENCODER):
    """Run ingest with a progress bar; returns the IngestReport (MMRecError propagates)."""
    from mmrec_core.ingest import ingest

    with heavy(label):
        bar = st.progress(0.0, text=f"{label}: reading the catalog")

        def progress(stage: str, done: int, total: int) -> None:
            order = {"text": 0, "image": 1, "audio": 2, "video": 3, "store": 4}.get(stage, 0)
            frac = (order + (done / total if total else 1.0)) / 5
            bar.progress(min(frac, 1.0), text=f"{label}: {stage} {done}/{total}")

        report = ingest(src, dest, encoder=encoder, progress=progress)
    bar.empty()
    return report


def add_with_progress(name: str, files: list[tuple[str, bytes]]):
    """Stage uploaded files and add their items to store `name` in place, with a progress bar; the IngestReport."""
    from mmrec_core.ingest import add

    path = session.stores_root() / name
    with heavy(f"Adding to {name}"), tempfile.TemporaryDirectory(dir=path, prefix=".upload-") as tmp:
        src = session.stage_upload(files, Path(tmp) / "src")
        bar = st.progress(0.0, text=f"Adding to {name}: reading the catalog")

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(min(done / total if total else 1.0, 1.0), text=f"Adding to {name}: {stage} {done}/{total}")

        report = add(src, path, progress=progress)
        bar.empty()
    return report


def engine() -> Engine | None:
    """The Engine of the current store; builds the demo store on first start; None if there is no store."""
    name = ss.view.store
    path = session.stores_root() / name
    if not (path / "CURRENT").is_file() and name == session.DEFAULT_STORE and (DEMO_SRC / "catalog.csv").is_file():
        with _build_lock():
            if not (path / "CURRENT").is_file():
                note = st.empty()
                note.info("First start: building the demo store from assets/demo (once; seconds with the shipped embeddings).")
                try:
                    ingest_with_progress(DEMO_SRC, path, "Building the demo store")
                    note.empty()
                except MMRecError as exc:
                    note.error(f"Could not build the demo store: {exc}")
    if not (path / "CURRENT").is_file():
        others = store_names()
        if not others:
            return None
        st.warning(f"Store {name!r} was not found; showing {others[0]!r} instead.")
        set_view(store=others[0], items=())
        path = session.stores_root() / others[0]
    try:
        return _engine(str(path), (path / "CURRENT").read_text().strip())
    except MMRecError as exc:
        st.error(f"Cannot open store {ss.view.store!r}: {exc}")
        return None
