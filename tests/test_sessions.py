"""Twelve dashboard sessions at once (AppTest, one thread each), every one with its own query, weights,
strategy, K, likes and uploaded picture: each sees exactly what mmrec_core computes for its own state,
and nothing of the others', while all of them share the one cached Engine.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import rerank as rr

from mmrec_core.recs import _profile as prof
from mmrec_core.retrieval import Weights
from mmrec_core.query import Engine, Query
from mmrec_core.retrieval import rank

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
SESSIONS = 12
STRATEGIES = ("weighted", "late", "max", "attention", "rrf")
SUBJECTS = ["a red apple", "a fast car", "a sleeping cat", "a loud drum", "a tall tree", "a snowy mountain",
            "a sailing boat", "a cup of coffee", "a yellow sun", "a wooden chair", "a flying bird", "a green frog",
            "a steam train", "a bowl of soup", "a violin", "a city at night", "a garden flower", "a rainy window",
            "a football", "a birthday cake", "a bicycle", "a lighthouse", "a desert road", "a blue whale"]
QUERIES = ["a round red ball", "a blue box", "rain", "the sea", "a cat", "music", "a vehicle", "something to eat",
           "weather", "an animal", "a green thing", "furniture"]
SECOND = ["toys", "a bird", "a sound", "food", "night", "a tree", "a poem", "sport", "a square", "water", "a drink", "a boat"]
SHAPES = {"sun": ("gold", "ellipse"), "sea": ("navy", "rectangle"), "leaf": ("darkgreen", "ellipse"),
          "brick": ("firebrick", "rectangle"), "plum": ("purple", "ellipse"), "sand": ("tan", "rectangle")}


def _png(colour, shape: str, size: int = 96) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (size, size), "white")
    getattr(ImageDraw.Draw(im), shape)((12, 12, size - 12, size - 12), fill=colour)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def home(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory):
    """MMREC_HOME whose 'demo' store is the tiny catalog plus 24 text items and 6 pictures (unique titles)."""
    from mmrec_core.ingest import ingest

    root = tmp_path_factory.mktemp("sessions-home")
    src = root / "catalog"
    shutil.copytree(tiny_catalog, src)
    with open(src / "catalog.csv", "a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for i, subject in enumerate(SUBJECTS):
            w.writerow([f"t{i}", subject.capitalize(), f"a picture of {subject}", "", "", "things", ""])
        for name, (colour, shape) in SHAPES.items():
            (src / "img" / f"{name}.png").write_bytes(_png(colour, shape))
            w.writerow([f"p-{name}", f"Picture {name}", f"a {colour} {shape}", f"img/{name}.png", "", "shapes", colour])
    ingest(src, root / "stores" / "demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMREC_HOME", str(root))
        yield root


@pytest.fixture
def concurrent_apptest(monkeypatch):
    """Let AppTests run side by side the way sessions run under `streamlit run`.

    For each run AppTest installs its own mock Runtime, patches a config option and resets a
    PagesManager class attribute, all process-wide, and undoes them when the run ends: with runs
    overlapping, one run's undo pulls them from under another. A server sets these once. Here too:
    one shared runtime (media files, caches) and the option set for the whole test.
    """
    from unittest.mock import MagicMock

    from streamlit.testing.v1 import app_test
    from streamlit.testing.v1.util import patch_config_options

    runtime = MagicMock(spec=app_test.Runtime)
    runtime.media_file_mgr = app_test.MediaFileManager(app_test.MemoryMediaFileStorage("/mock/media"))
    runtime.dataframe_source_mgr = app_test.DataframeSourceManager()
    runtime.cache_storage_manager = app_test.MemoryCacheStorageManager()
    registry = app_test.BidiComponentManager()
    registry.discover_and_register_components(start_file_watching=False)
    runtime.bidi_component_registry = registry
    monkeypatch.setattr(app_test.Runtime, "_instance", runtime)
    # AppTest's own per-run assignments land on these subclasses, leaving the real classes alone.
    monkeypatch.setattr(app_test, "Runtime", type("RunRuntime", (app_test.Runtime,), {}))
    monkeypatch.setattr(app_test, "PagesManager", type("RunPagesManager", (app_test.PagesManager,), {}))
    monkeypatch.setattr(app_test, "patch_config_options", lambda overrides: _nothing())
    # A server compiles each script once, under its ScriptCache's lock; AppTest makes a cache per run, so
    # runs side by side would compile (and ast.parse, for magic) at once, which CPython 3.11 does not survive.
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import local_script_runner

    shared = ScriptCache()
    monkeypatch.setattr(app_test, "ScriptCache", lambda: shared)
    monkeypatch.setattr(local_script_runner, "ScriptCache", lambda: shared)
    with patch_config_options({"global.appTest": True}):
        yield


@contextmanager
def _nothing():
    yield


def shown_titles(at) -> list[str]:
    if [e for e in at.get("bidi_component") if getattr(e, "key", None) == rr.KEY]:  # the Search page
        return rr.titles(at)
    heads = [m.value for m in at.markdown if re.match(r"^\*\*\d+\\\. ", m.value)]
    return [re.sub(r"\\(.)", r"\1", h[2:-2]).split(". ", 1)[1] for h in heads]


@dataclass
class Plan:
    """One session's actions and, for each step, the titles mmrec_core computes for that session's own state."""

    index: int
    params: dict
    alpha: float
    second_query: str
    picture: tuple[str, bytes]
    strategy2: str
    audio2: float
    likes: list[str] = field(default_factory=list)
    want: dict[str, list[str]] = field(default_factory=dict)
    weights: dict[str, Weights] = field(default_factory=dict)


def make_plans(store) -> list[Plan]:
    engine = Engine(store)
    title = {it["id"]: it["title"] for it in store.items}
    colours = ["crimson", "teal", "orange", "olive", "hotpink", "black", "skyblue", "sienna", "lime", "indigo", "gray", "coral"]
    plans = []
    for i in range(SESSIONS):
        wt, wi, wa = round(0.9 - 0.07 * i, 2), round(0.1 + 0.06 * i, 2), round(0.05 * (i % 7), 2)
        k, strategy = 3 + i % 5, STRATEGIES[i % 5]
        p = Plan(i, {"q": QUERIES[i], "wt": f"{wt}", "wi": f"{wi}", "wa": f"{wa}", "k": str(k), "strategy": strategy},
                 alpha=round((wi / (wt + wi) + 0.5) % 1, 2), second_query=SECOND[i],
                 picture=(f"mine-{i}.png", _png(colours[i], ("ellipse", "rectangle")[i % 2], 64 + 4 * i)),
                 strategy2=STRATEGIES[(i + 2) % 5], audio2=round(0.9 - 0.05 * i, 2))

        def search(text: str, w: Weights, s: str) -> list[str]:
            return [title[store.ids[r]] for r in rank(engine.candidates(Query(text=text)), w, strategy=s, k=k).rows]

        p.weights["start"] = Weights(wt, wi, wa)
        p.want["start"] = search(QUERIES[i], p.weights["start"], strategy)
        p.weights["alpha"] = Weights.from_alpha(p.alpha, audio=wa)
        p.want["alpha"] = search(QUERIES[i], p.weights["alpha"], strategy)
        ids = {t: iid for iid, t in title.items()}
        p.likes.append(ids[p.want["alpha"][i % len(p.want["alpha"])]])
        p.want["second"] = search(SECOND[i], p.weights["alpha"], strategy)
        p.likes.append(next(ids[t] for t in p.want["second"][::-1] if ids[t] not in p.likes))
        profile = prof.Profile(liked=tuple(p.likes))
        profile = prof.add_upload(profile, prof.Upload(p.picture[0], "image", engine.vectors(Query(image=p.picture[1]))))

        def recommend(w: Weights, s: str) -> list[str]:
            ranking = rank(engine.candidates(prof.profile_vectors(store, profile)), w, strategy=s, k=k)
            return [title[store.ids[r]] for r in ranking.rows]

        p.want["profile"] = recommend(p.weights["alpha"], strategy)
        p.weights["end"] = Weights(p.weights["alpha"].text, p.weights["alpha"].image, p.audio2)
        p.want["end"] = recommend(p.weights["end"], p.strategy2)
        plans.append(p)
    return plans


class Overlap:
    """Releases every session's next rerun together and counts how many reruns ran at once."""

    def __init__(self, sessions: int) -> None:
        self.barrier = threading.Barrier(sessions, timeout=900)
        self.lock = threading.Lock()
        self.busy = self.peak = self.runs = 0

    def run(self, widget, step=None):
        """widget.run() (or step(), a run the page's component would cause) once every session is ready."""
        self.barrier.wait()
        with self.lock:
            self.busy += 1
            self.runs += 1
            self.peak = max(self.peak, self.busy)
        try:
            return step() if step is not None else widget.run()
        finally:
            with self.lock:
                self.busy -= 1


def drive(p: Plan, run) -> dict:
    """One session: search, move alpha, like, a second query, like, profile page, upload a picture, re-weight."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params = dict(p.params)
    seen = {}
    at = run(at)
    seen["start"] = shown_titles(at)
    at = run(at, lambda: rr.settle(at, {"text": 1.0 - p.alpha, "image": p.alpha, "audio": at.session_state["view"].weights.audio}))
    seen["alpha"] = shown_titles(at)
    at = run(at, lambda: rr.send(at, action={"kind": "like", "id": p.likes[0]}))
    at = run(at.text_input(key="w_query").set_value(p.second_query))
    seen["second"] = shown_titles(at)
    at = run(at, lambda: rr.send(at, action={"kind": "like", "id": p.likes[1]}))
    at = run(at.switch_page("pages/profile.py"))
    at = run(at.file_uploader(key="p_image0").set_value((*p.picture, "image/png")))
    seen["profile"] = shown_titles(at)
    at.sidebar.selectbox(key="w_strategy").set_value(p.strategy2)
    at = run(at.sidebar.slider(key="w_audio").set_value(p.audio2))
    seen["end"] = shown_titles(at)
    assert not at.exception, [e.value for e in at.exception]
    view, profile = at.session_state["view"], at.session_state["profiles"]["demo"]
    seen["state"] = (view.text, view.weights, view.strategy, view.k, profile.liked, [u.name for u in profile.uploads])
    seen["sidebar"] = tuple(at.sidebar.slider(key=f"w_{m}").value for m in ("text", "image", "audio"))
    seen["url"] = (at.query_params["q"], at.query_params["strategy"], at.query_params["wa"])
    return seen


def test_concurrent_sessions_each_see_only_their_own_state(home, concurrent_apptest, monkeypatch):
    from mmrec_core.store import open_store

    plans = make_plans(open_store(home / "stores" / "demo"))
    for step in ("start", "alpha", "second", "profile", "end"):  # sessions would tell apart a swapped state
        assert len({tuple(p.want[step]) for p in plans}) >= SESSIONS - 2, step
    assert len({tuple(p.likes) for p in plans}) == SESSIONS

    engines, candidates = set(), Engine.candidates
    monkeypatch.setattr(Engine, "candidates", lambda self, query: engines.add(id(self)) or candidates(self, query))
    overlap = Overlap(SESSIONS)

    def session(p: Plan) -> dict:
        try:
            return drive(p, overlap.run)
        except BaseException:
            overlap.barrier.abort()  # the others fail fast instead of waiting at the barrier
            raise

    with ThreadPoolExecutor(SESSIONS) as pool:
        futures = [pool.submit(session, p) for p in plans]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:  # the first real failure, not the broken barrier it left the other sessions with
        raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])

    for p, seen in zip(plans, (f.result() for f in futures)):
        for key in ("start", "alpha", "second", "profile", "end"):
            assert seen[key] == p.want[key], (p.index, key)
        w = p.weights["end"]
        assert seen["state"] == (p.second_query, w, p.strategy2, int(p.params["k"]), tuple(p.likes), [p.picture[0]]), p.index
        assert seen["sidebar"] == pytest.approx((w.text, w.image, w.audio)), p.index
        assert seen["url"] == (p.second_query, p.strategy2, f"{w.audio:.2f}"), p.index
    assert len(engines) == 1  # every session queried the one cached Engine
    assert overlap.peak >= SESSIONS // 2, f"reruns should overlap; at most {overlap.peak} ran at once"
    print(f"\n{SESSIONS} concurrent sessions, {overlap.runs} runs, at most {overlap.peak} at once")
