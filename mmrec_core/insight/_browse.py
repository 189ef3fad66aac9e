"""Browsing a store of any size: item categories, a title/tag filter, and a fixed sample of rows for maps.

A million item records cannot be parsed on every page run. `facets(store)` reads them once per
store version (only the rows a previous version of the same data did not cover) and keeps, per
row, a category code and a lower-cased "title + tags" line; both are saved in the version folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mmrec_core.catalog import category_of
from mmrec_core.store import Store

FACETS_DIR = "facets"
SEP = "\x1f"  # between a row's title and tags in the search text (never typed in a filter)
MAP_SAMPLE = 5_000  # rows drawn on a map of a large store: enough for its shape, few enough for a browser


@dataclass(frozen=True)
class Facets:
    """Per row (dead rows included): category code into `names` (-1 for a removed row), and its search text."""

    names: list[str]
    codes: np.ndarray  # int32 (rows,)
    text: bytes  # "title\x1ftag\x1ftag\n" per row, lower-cased UTF-8
    starts: np.ndarray  # int64 (rows,) where each row's line starts in `text`

    def categories(self) -> list[tuple[str, int]]:
        """(category, live items) largest first, ties by name."""
        counts = np.bincount(self.codes[self.codes >= 0], minlength=len(self.names))
        return sorted(((n, int(c)) for n, c in zip(self.names, counts) if c), key=lambda nc: (-nc[1], nc[0]))

    def rows(self, *, needle: str = "", category: str | None = None) -> np.ndarray:
        """Live rows whose title or a tag contains `needle` (case-insensitive) and in `category`; ascending."""
        keep = self.codes >= 0
        if category is not None:
            code = self.names.index(category) if category in self.names else -2
            keep &= self.codes == code
        needle = needle.strip().lower().replace(SEP, " ").replace("\n", " ")
        if needle:
            hits = np.fromiter((m.start() for m in re.finditer(re.escape(needle.encode()), self.text)), np.int64)
            hit_rows = np.unique(np.searchsorted(self.starts, hits, side="right") - 1)
            mask = np.zeros_like(keep)
            mask[hit_rows] = True
            keep &= mask
        return np.flatnonzero(keep)


def facets(store: Store, *, progress: Callable[[int, int], None] | None = None) -> Facets:
    """The store version's facets: read from its folder, else built (reusing an older version's rows) and saved.

    Once per process: every session of a dashboard shares the Store, hence these facets (Store.derived).
    """
    def build() -> Facets:
        folder = store.version_dir / FACETS_DIR
        out = _load(folder, len(store.ids))
        if out is None:
            out = _extend(store, _previous(store), progress)
            _save(folder, out)
        return out

    return store.derived("facets", build)


def _extend(store: Store, base: Facets | None, progress: Callable[[int, int], None] | None) -> Facets:
    n = len(store.ids)
    start = 0 if base is None else len(base.codes)
    names = list(base.names) if base else []
    index = {name: i for i, name in enumerate(names)}
    codes = np.empty(n, np.int32)
    lines = [base.text] if base else []
    starts = np.empty(n, np.int64)
    if base is not None:
        codes[:start], starts[:start] = base.codes, base.starts
    pos = len(base.text) if base else 0
    for r in range(start, n):
        it = store.items[r]
        cat = category_of(it)
        codes[r] = index.setdefault(cat, len(index))
        if codes[r] == len(names):
            names.append(cat)
        line = (SEP.join([str(it.get("title") or it["id"]), *map(str, it.get("tags") or [])]).lower()
                .replace("\n", " ") + "\n").encode()
        starts[r] = pos
        pos += len(line)
        lines.append(line)
        if progress is not None and (r - start) % 20_000 == 0:
            progress(r - start, n - start)
    codes[[not i for i in store.ids]] = -1  # removed and replaced rows
    return Facets(names, codes, b"".join(lines), starts)


def _previous(store: Store) -> Facets | None:
    """Facets of the newest older version on the same data (its rows are a prefix of ours), if saved."""
    gen = store.manifest.get("data")
    for v in sorted((store.path / "versions").glob("v*"), reverse=True):
        if v.name >= store.version:
            continue
        try:
            manifest = json.loads((v / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        if gen is not None and manifest.get("data") == gen:
            old = _load(v / FACETS_DIR, int(manifest["n_rows"]))
            if old is not None:
                return old
    return None


def _load(folder: Path, n: int) -> Facets | None:
    try:
        arrays = np.load(folder / "facets.npz", allow_pickle=False)
        names = json.loads((folder / "names.json").read_text(encoding="utf-8"))
        text = (folder / "text.bin").read_bytes()
    except (OSError, ValueError):
        return None
    if arrays["codes"].shape != (n,):
        return None
    return Facets(names, arrays["codes"], text, arrays["starts"])


def _save(folder: Path, f: Facets) -> None:
    """Best effort, atomic per file: a read-only store just rebuilds them next time."""
    try:
        folder.mkdir(exist_ok=True)
        tmp = folder / f".tmp-{os.getpid()}"
        tmp.mkdir(exist_ok=True)
        np.savez(tmp / "facets.npz", codes=f.codes, starts=f.starts)
        (tmp / "names.json").write_text(json.dumps(f.names, ensure_ascii=False), encoding="utf-8")
        (tmp / "text.bin").write_bytes(f.text)
        for name in ("text.bin", "names.json", "facets.npz"):  # the npz last: _load checks it first
            os.replace(tmp / name, folder / name)
        tmp.rmdir()
    except OSError:
        return


def title(store: Store, row: int) -> str:
    """A row's title (its id when it has none)."""
    it = store.items[int(row)]
    return str(it.get("title") or it["id"])


def item_title(store: Store, item_id: str) -> str:
    """An item's title by id; the id itself for an id the store does not hold (e.g. a profile from another version)."""
    row = store.rows_by_id().get(item_id)
    return item_id if row is None else title(store, row)


def map_rows(store: Store, *, size: int = MAP_SAMPLE, seed: int = 0) -> np.ndarray:
    """The rows a map draws: every live row up to `size`, else a fixed random sample of them (ascending)."""
    live = store.live_rows
    if len(live) <= size:
        return live
    return np.sort(np.random.default_rng(seed).choice(live, size, replace=False))


@dataclass(frozen=True)
class MapView:
    """What the Embedding map draws: rows (p,) of the store, their coords (p, 2), present (p,), titles and groups.

    `placed` rows (the query's top-K or the profile outside a large store's sample) were not projected:
    each sits among its nearest sampled rows (viz.place_among).
    """

    rows: np.ndarray
    coords: np.ndarray
    present: np.ndarray
    titles: list[str]
    groups: list[str]
    sampled: bool
    placed: int

    def positions(self, rows: Sequence[int]) -> list[int]:
        """Indices into this view of the given store rows (rows it does not hold are skipped)."""
        at = {int(r): i for i, r in enumerate(self.rows)}
        return [at[r] for r in rows if r in at]


def map_view(store: Store, space: str, method: str, weights, *, colour: str = "category",
             extra: Sequence[int] = (), size: int = MAP_SAMPLE) -> MapView:
    """Project the map's rows (all live rows, or a fixed sample of a large store) and place `extra` rows on it.

    The projection of the sample, its titles and groups depend only on the version and the view, so they
    are computed once per process (Store.derived) for every session; only `extra` is placed per call.
    """
    from mmrec_core.insight._viz import place_among, space_matrix
    from mmrec_core.retrieval import MODALITIES

    key = ("map", space, method, tuple(float(getattr(weights, m)) for m in MODALITIES), colour, size)
    base = store.derived(key, lambda: _map_base(store, space, method, weights, colour, size))
    more = np.setdiff1d(np.asarray(list(extra), np.int64), base.rows)
    if not len(more):
        return base
    x, _ = space_matrix({m: store.vectors(m, base.rows) for m in MODALITIES}, space, weights)
    x_more, p_more = space_matrix({m: store.vectors(m, more) for m in MODALITIES}, space, weights)
    return MapView(np.concatenate([base.rows, more]), np.vstack([base.coords, place_among(base.coords, x, x_more)]),
                   np.concatenate([base.present, p_more]), base.titles + [title(store, r) for r in more],
                   base.groups + _groups(store, more, colour), base.sampled, len(more))


def _map_base(store: Store, space: str, method: str, weights, colour: str, size: int) -> MapView:
    """The sample's MapView: its projection, titles and groups."""
    from mmrec_core.insight._viz import projection
    from mmrec_core.retrieval import MODALITIES

    sample = map_rows(store, size=size)
    sampled = len(sample) < len(store.live_rows)
    emb = {m: store.vectors(m, sample) for m in MODALITIES}
    coords, present = projection(emb, store.version_dir, space, method, weights, sample=f"sample{len(sample)}" if sampled else "")
    return MapView(sample, coords, present, [title(store, r) for r in sample], _groups(store, sample, colour), sampled, 0)


def _groups(store: Store, rows: np.ndarray, colour: str) -> list[str]:
    if colour == "category":
        f = facets(store)
        return [f.names[c] if c >= 0 else "(removed)" for c in f.codes[rows]]
    return [str((store.items[r].get("tags") or ["(none)"])[0]) for r in rows]
