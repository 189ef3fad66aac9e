"""Streamlit glue of the Recommendations page: shared caches (interactions, trained models), per-user state, progress.

Interactions and trained models are read-only and shared by every session through st.cache_resource,
keyed by store version and file stamp; what one user likes lives in that user's st.session_state.
"""

from __future__ import annotations

import shutil
import threading
from typing import Any, Callable, Sequence

import streamlit as st

from mmrec_core import recs, session
from mmrec_core.errors import AccessError, MMRecError
from mmrec_core.store import Store
from pages import _access as access
from pages import _state as state
from pages import _stores as stores
from pages import _ui as ui

ss = ui.ss
DEFAULTS: dict[str, Any] = {"model": None, "who": "you", "user": None, "epochs": 30,
                            "train_models": ["popularity", "itemknn", "content", "hybrid", "blend"],
                            "eval_models": list(recs.EVAL_MODELS), "split": "temporal", "k": 10, "seed": 0,
                            "cold": 0.0}
ML100K_MAX_ITEMS: int | None = None  # movies in the MovieLens store built here (None: all 1,682; tests take a slice)
WHO = {"you": "Your likes (this session)", "user": "A user from the interactions"}


def init_state() -> None:
    """Per-user state of the page, set once per session (never in a shared cache)."""
    ss.setdefault("rec_state", dict(DEFAULTS))  # the page's choices, kept while its widgets are not drawn
    ss.setdefault("rec_feedback", {})  # (store, user id) -> Profile: likes added in this session acting as that user
    ss.setdefault("rec_mix", {})  # store -> {model: blend weight}
    ss.setdefault("rec_eval", {})  # store -> {"params": ..., "rows": [...]}
    ss.setdefault("rec_upload", {})  # store -> {"name", "summary", "bad", "error"} of the last interactions upload


def _keep(name: str, key: str) -> None:
    ss.rec_state = {**ss.rec_state, name: ss[key]}


def widget(fn: Callable[..., Any], label: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """Draw a widget whose value lives in ss.rec_state[name]."""
    key = f"w_rec_{name}"
    ss[key] = ss.rec_state[name]
    return fn(label, *args, key=key, on_change=_keep, args=(name, key), **kwargs)


# ---------- shared, read-only: interactions and trained models ----------

@st.cache_resource(show_spinner=False, max_entries=8)
def _interactions(path: str, version: str, file: str, mtime_ns: int) -> recs.LoadReport:
    return recs.load_store_interactions(stores._engine(path, version).store)


def interactions(store: Store) -> recs.LoadReport | None:
    """The store's interactions (bad rows reported), shared by sessions; None when it has none or they are unreadable."""
    path = recs.interactions_path(store)
    if path is None:
        return None
    try:
        return _interactions(str(store.path), store.version, str(path), path.stat().st_mtime_ns)
    except (MMRecError, OSError) as exc:
        st.error(f"Cannot read the interactions of {ss.view.store!r}: {exc}")
        return None


@st.cache_resource(show_spinner=False, max_entries=4)
def _rec_engine(path: str, version: str, stamp: str) -> recs.RecEngine:
    return recs.RecEngine.load(stores._engine(path, version).store)


def rec_engine(store: Store) -> recs.RecEngine | None:
    """The models trained on this store, loaded once per (store version, training) and shared; None if none is."""
    stamp = recs.models_stamp(store)
    if not stamp:
        return None
    try:
        return _rec_engine(str(store.path), store.version, stamp)
    except MMRecError as exc:
        st.error(f"Cannot load the trained models: {exc}. Train them again.")
        return None


@st.cache_resource(show_spinner=False)
def _train_lock() -> threading.Lock:
    return threading.Lock()


# ---------- actions with a progress bar ----------

def upload_interactions(store: Store, widget_key: str) -> None:
    """Uploader callback: check the CSV against the store and keep it (bad rows are reported, never fatal)."""
    up = ss.get(widget_key)
    if up is None:
        return
    result: dict[str, Any] = {"name": up.name, "summary": None, "bad": [], "error": None}
    try:
        access.require_editor("Keeping interactions with a store")
        if access.read_only(store.path.name):
            raise AccessError(f"store {store.path.name} is read-only")
        report = recs.attach_interactions(store, up.getvalue())
        result.update(summary=report.summary(), bad=recs.bad_rows_table(report))
    except AccessError as exc:
        result.update(error=str(exc))
    except recs.InteractionsError as exc:
        bad = getattr(exc, "report", None)
        result.update(error=str(exc), bad=recs.bad_rows_table(bad) if bad is not None else [])
    ss.rec_upload = {**ss.rec_upload, ss.view.store: result}


def _bar(label: str, order: Sequence[str]) -> tuple[Any, Callable[[str, int, int], None]]:
    """A progress bar and a progress(stage, done, total) for it; stages 'NAME:what' advance through `order`."""
    bar = st.progress(0.0, text=label)

    def progress(stage: str, done: int, total: int) -> None:
        name = stage.partition(":")[0]
        i = order.index(name) if name in order else 0
        frac = (i + (done / total if total else 1.0)) / max(len(order), 1)
        step = stage.partition(":")[2] or "done"
        bar.progress(min(frac, 1.0), text=f"{label} {min(frac, 1.0):.0%} of it all: model {i + 1} of {len(order)} "
                                          f"({name}), {step} {done}/{total}")

    return bar, progress


def train(store: Store, report: recs.LoadReport, models: Sequence[str], *, epochs: int) -> None:
    """Train and save the models (one training per store at a time), then rerun to load them."""
    order = recs.fit_order(models)
    bar, progress = _bar("Training", order)
    try:
        access.require_editor("Training models")
        if access.read_only(store.path.name):
            raise AccessError(f"store {store.path.name} is read-only: its models are kept as they are")
        with _train_lock(), stores.heavy("Training"):
            engine = recs.train(store, report, models, epochs=epochs, progress=progress)
    except MMRecError as exc:
        bar.empty()
        st.error(f"Training failed: {exc}")
        return
    bar.empty()
    seconds = ", ".join(f"{n} {t.meta['seconds']:.1f} s" for n, t in engine.trained.items())
    state.flash("success", f"Trained on {len(report.interactions):,} interactions and saved with the store: {seconds}.")
    st.rerun()


def evaluate(store: Store, report: recs.LoadReport, params: dict[str, Any]) -> None:
    """Run the seeded evaluation with a progress bar; the table goes to this session's state."""
    bar, progress = _bar("Evaluating", list(params["models"]))
    try:
        rows = recs.evaluate(store, report, params["models"], how=params["split"], k=params["k"],
                                  seed=params["seed"], epochs=params["epochs"], cold_items=params["cold"],
                                  progress=progress)
    except MMRecError as exc:
        st.error(f"Evaluation failed: {exc}")
        rows = None
    bar.empty()
    if rows is not None:
        ss.rec_eval = {**ss.rec_eval, ss.view.store: {"params": params, "rows": rows}}


def build_movielens() -> None:
    """Build the MovieLens 100K store from the recbole wheel (aside, then moved in) and open it."""
    root = session.stores_root()
    name = recs.ML100K_STORE
    bar = st.progress(0.0, text="MovieLens 100K: reading the files")

    def progress(stage: str, done: int, total: int) -> None:
        frac = 0.95 * (done / total if total else 1.0) if stage == "text" else 0.97 if stage != "store" else 0.99
        bar.progress(frac, text=f"MovieLens 100K: encoding titles and genres {done}/{total}" if stage == "text"
                     else f"MovieLens 100K: {stage}")

    try:
        access.require_editor("Building MovieLens 100K")
        with stores._build_lock():
            if not (root / name / "CURRENT").is_file():
                shutil.rmtree(root / name, ignore_errors=True)  # a leftover without CURRENT
                stores.build_store_aside(name, lambda dest: recs.build_ml100k(
                    dest, max_items=ML100K_MAX_ITEMS, progress=progress))
    except MMRecError as exc:
        bar.empty()
        st.error(f"Could not build MovieLens 100K: {exc}")
        return
    bar.empty()
    stores.open_store_view(name)
    state.flash("success", f"Store {name!r}: MovieLens 100K (movies as text: title, year, genres; ratings as interactions). "
                        "It is now the open store: train a model below.")
    st.rerun()


# ---------- whose history ----------

def user_rater(uid: str) -> tuple[Callable[[], recs.Profile], Callable[..., None]]:
    """Like/dislike on a card, acting as user `uid` of the interactions (this session only)."""
    key = (ss.view.store, uid)

    def get() -> recs.Profile:
        return ss.rec_feedback.get(key, recs.Profile())

    def update(fn: Callable[..., recs.Profile], *args: Any) -> None:
        ss.rec_feedback = {**ss.rec_feedback, key: fn(get(), *args)}

    return get, update


def history(rec: recs.RecEngine, model: str, who: str, uid: str | None) -> tuple[recs.History, tuple[str, ...]]:
    """The history to recommend from, and the ids to leave out (dislikes): your profile's, or a user's plus this session's likes."""
    if who == "you" or uid is None:
        profile = state.get_profile()
        return recs.history_from_profile(rec.store, profile), profile.disliked
    extra = user_rater(uid)[0]()
    h = rec.history(uid, model=model)
    for iid in extra.liked:
        h = rec.like(h, iid)
    return h, extra.disliked


def choose(name: str, options: Sequence[str], prefer: Sequence[str] = ()) -> None:
    """Keep ss.rec_state[name] among `options`: as it is, else the first of `prefer` offered, else the first option."""
    if options and ss.rec_state[name] not in options:
        ss.rec_state = {**ss.rec_state, name: next((p for p in prefer if p in options), options[0])}


def _set_mix(name: str, key: str) -> None:
    store = ss.view.store
    ss.rec_mix = {**ss.rec_mix, store: {**ss.rec_mix.get(store, {}), name: float(ss[key])}}


def mix_sliders(rec: recs.RecEngine) -> dict[str, float]:
    """One slider per model of the trained blend (starting from its saved weights); returns the weights."""
    blend = rec.trained["blend"].model
    mine = ss.rec_mix.get(ss.view.store, {})
    mix = {name: float(mine.get(name, blend.config.mix.get(name, 0.0))) for name in blend.models}
    st.caption("Blend weights: how much each model counts (no retraining; the results follow at once)")
    for col, (name, w) in zip(st.columns(len(mix)), mix.items()):
        key = f"w_mix_{name}"
        ss[key] = w
        col.slider(name, 0.0, 1.0, step=0.05, key=key, on_change=_set_mix, args=(name, key))
    return mix
