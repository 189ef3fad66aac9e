"""Growing a store in place: `add` appends rows to the live generation, `remove` marks rows dead; indexes are
updated (or retrained when they drift) and a store with too many dead rows is compacted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from mmrec_core.catalog.video import FrameTable
from mmrec_core.errors import StoreError
from mmrec_core.retrieval import MODALITIES, AnnIndex, IndexConfig, Retriever, backend_of
from mmrec_core.store import _columns as col
from mmrec_core.store._files import check_writable, writing
from mmrec_core.store._read import FORMAT_VERSION, Store, open_store
from mmrec_core.store._write import (Change, Rows, append_rows, build_manifest, commit_version, count_videos,
                                     drift_reference, drop_orphans, new_generation)

COMPACT_DEAD = 0.25  # rewrite the rows without the dead ones when more than this share is dead

DRIFT_GROWTH = 1.0  # retrain an IVF index once the rows added since training exceed this share of those trained on

DRIFT_ERROR = 1.25  # ... or once added vectors sit this much farther from their centroids than the training set

class Take:
    """Rows of an array or a sequence picked by index, read block by block (a lazy `x[rows]`)."""

    def __init__(self, data: Any, rows: np.ndarray) -> None:
        self.data, self.rows = data, np.asarray(rows, np.int64)
        if hasattr(data, "shape"):
            self.shape, self.dtype = (len(self.rows), *data.shape[1:]), data.dtype

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            picked = self.rows[key]
            return self.data[picked] if hasattr(self.data, "shape") else [self.data[int(r)] for r in picked]
        return self.data[int(self.rows[key])]

    def __iter__(self) -> Iterator[Any]:
        for r in self.rows:
            yield self.data[int(r)]

def _rewrite(store: Store, config: IndexConfig | None = None) -> Store:
    """Write the live items of a store into a new generation (compaction, or converting a format 1 store)."""
    live = store.live_rows
    lo, hi = np.searchsorted(store.frames.rows, live), np.searchsorted(store.frames.rows, live + 1)
    keep = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)]) if len(store.frames) else np.zeros(0, np.int64)
    frames = FrameTable(np.searchsorted(live, np.asarray(store.frames.rows)[keep]).astype(np.int32),
                        np.asarray(store.frames.times)[keep], np.asarray(store.frames.vectors)[keep])
    rows = Rows(Take(store.items, live), {m: Take(store.embeddings[m], live) for m in MODALITIES}, frames)
    config = config or IndexConfig(**store.manifest["index"]["config"])
    meta = {k: v for k, v in store.manifest.items() if k in ("encoder", "source")}
    return new_generation(store.path, rows, store.scaler, list(store.report), config, meta, backend_of(store.manifest))

def _live_v2(path: Path) -> Store:
    store = open_store(path)
    return store if store.manifest["format_version"] == FORMAT_VERSION else _rewrite(store)

def add_items(path: str | Path, rows: Rows, *, encoder: Mapping[str, Any],
              report: Sequence[Mapping[str, str]] = (), force: bool = False) -> tuple[Store, Change]:
    """Append rows to the live store (an id that exists is replaced); indexes take them without retraining
    unless they drifted. Returns the new live version and what changed. A read-only store refuses (unless force)."""
    path = Path(path)
    check_writable(path, force=force)
    ids = [str(it["id"]) for it in rows.items]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise StoreError(f"the new items repeat ids: {', '.join(map(repr, dup))}")
    with writing(path):
        live = _live_v2(path)
        held = live.manifest["encoder"]
        names = [m for m in MODALITIES if m in held and m in encoder]  # per-modality encoder names, where recorded
        if not (all(encoder[m] == held[m] for m in names) if names else encoder.get("name") == live.encoder):
            raise StoreError(f"the new items were encoded with {encoder.get('name')!r}; this store holds "
                             f"{live.encoder!r} vectors. Re-encode the store, or add with its encoder")
        dims = {m: int(live.manifest["dims"][m]) for m in MODALITIES}
        for m in MODALITIES:
            if rows.embeddings[m].shape[1] != dims[m]:
                raise StoreError(f"new {m} vectors have dimension {rows.embeddings[m].shape[1]}; the store's is {dims[m]}")
        known = set(ids) & live.rows_by_id().keys()
        gone = np.asarray(sorted(live.row_of(i) for i in known), np.int64)
        start = int(live.manifest["n_rows"])
        new = np.arange(start, start + len(ids), dtype=np.int64)
        change = Change(added=len(ids) - len(known), replaced=len(known))
        store = _grow(live, rows, gone, new, list(live.report) + [dict(r) for r in report], change)
        return _maybe_compact(store, Change(change.added, change.replaced, 0, store.manifest["last_change"]["index"]))

def remove_items(path: str | Path, ids: Sequence[str], *, force: bool = False) -> tuple[Store, Change]:
    """Remove items by id (their rows become dead; indexes drop them). StoreError names unknown ids; a read-only
    store refuses (unless force)."""
    path = Path(path)
    check_writable(path, force=force)
    ids = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
    if not ids:
        raise StoreError("give at least one item id to remove")
    with writing(path):
        live = _live_v2(path)
        rows = live.rows_by_id()
        unknown = [i for i in ids if i not in rows]
        if unknown:
            raise StoreError(f"{len(unknown)} id(s) not in store {path.name}: {', '.join(map(repr, unknown[:10]))}"
                             f"{' …' if len(unknown) > 10 else ''}; nothing was removed")
        if len(ids) >= live.n_items:
            raise StoreError(f"that would remove all {live.n_items} items; a store keeps at least one "
                             "(delete the store's folder to drop it)")
        gone = np.asarray(sorted(rows[i] for i in ids), np.int64)
        empty = Rows([], {m: np.zeros((0, int(live.manifest["dims"][m])), np.float32) for m in MODALITIES})
        store = _grow(live, empty, gone, np.zeros(0, np.int64), list(live.report), Change(removed=len(ids)))
        return _maybe_compact(store, Change(removed=len(ids), index=store.manifest["last_change"]["index"]))

def _grow(live: Store, rows: Rows, gone: np.ndarray, new: np.ndarray, report: list, change: Change) -> Store:
    """Append rows, mark `gone` dead, update the indexes, commit a version of the same generation."""
    path, manifest = live.path, live.manifest
    gen = path / "data" / str(manifest["data"])
    drop_orphans(path, live.version)
    dims = {m: int(manifest["dims"][m]) for m in MODALITIES}
    sizes = {"rows": int(manifest["n_rows"]), **manifest["bytes"], "frames": int(manifest.get("frames", 0))}
    sizes = append_rows(gen, rows, dims, sizes) if len(rows.items) else sizes
    n_rows = sizes["rows"]
    dead = np.union1d(np.setdiff1d(np.arange(len(live.ids)), live.live_rows), gone)
    present = np.array(col.open_rows(gen / "present.u8", np.uint8, n_rows, len(MODALITIES)), dtype=bool)
    present[dead] = False
    config = IndexConfig(**manifest["index"]["config"])
    retriever = Retriever({m: col.open_rows(col.vector_file(gen, m), np.float16, n_rows, dims[m]) for m in MODALITIES},
                          config=config, present=present)
    indexes, trained, notes, kinds, backend = {}, {}, {}, retriever.kinds, backend_of(manifest)
    if backend is None:
        for m in MODALITIES:
            todo = _update_index(live, retriever, m, new, gone)
            if todo is not None:
                indexes[m], trained[m], notes[m] = todo
    else:
        from mmrec_core.retrieval import milvus

        kinds = manifest["index"]["kinds"]  # chosen when the generation was built; Milvus indexes new rows itself
        removed = {m: int(live.present[gone, j].sum()) for j, m in enumerate(MODALITIES)}
        notes = milvus.grow(path, backend, str(manifest["data"]), retriever.embeddings, present, new, removed, kinds)
    meta = {k: v for k, v in manifest.items() if k in ("encoder", "source")}
    out = build_manifest(meta, str(manifest["data"]), n_rows, len(dead), sizes, dims, present, config, kinds,
                    trained, frames=sizes["frames"], videos=count_videos(gen, sizes["frames"], dead),
                    change=Change(change.added, change.replaced, change.removed, notes), backend=backend)
    store = commit_version(path, out, report, live.scaler, indexes, dead=dead)
    if backend is not None:
        milvus.committed(path, backend, str(manifest["data"]), gone)
    return store

def _update_index(live: Store, retriever: Retriever, m: str, new: np.ndarray, gone: np.ndarray
                  ) -> tuple[tuple[str, Any], dict[str, Any], str] | None:
    """(how to store the index, its training record, what happened) for one modality; None when it is flat."""
    j, kind = MODALITIES.index(m), retriever.kinds[m]
    if kind == "flat" or not retriever.present[:, j].any():
        return None
    old_kind = live.manifest["index"]["kinds"].get(m)
    old_file = live.version_dir / f"index_{m}.faiss"
    added = new[retriever.present[new, j]]
    removed = gone[live.present[gone, j]] if len(gone) else gone
    was = live.manifest["index"].get("trained", {}).get(m)
    if old_kind != kind or not old_file.is_file() or was is None:
        ann = AnnIndex.build(retriever.embeddings[m], np.flatnonzero(retriever.present[:, j]), kind, retriever.config)
        return ("save", ann), {"rows": ann.size, "error": drift_reference(ann)}, f"built {kind} over {ann.size} rows"
    if not len(added) and not len(removed):
        return ("link", old_file), was, "unchanged"
    ann = AnnIndex.load(old_file, kind, retriever.config)
    error = round(ann.coarse_error(retriever.embeddings[m][added].astype(np.float32)), 6) if len(added) else 0.0
    grown = ann.size - int(was["rows"]) + len(added) - len(removed)
    why = (f"{grown} rows added since training on {was['rows']}" if grown > DRIFT_GROWTH * int(was["rows"]) else
           f"new vectors' coarse error {error:.3f} vs {was['error']:.3f} at training"
           if len(added) >= 100 and error > DRIFT_ERROR * float(was["error"]) else None)
    if why:
        ann = AnnIndex.build(retriever.embeddings[m], np.flatnonzero(retriever.present[:, j]), kind, retriever.config)
        return ("save", ann), {"rows": ann.size, "error": drift_reference(ann)}, f"retrained ({why})"
    ann.remove(removed)
    ann.add(retriever.embeddings[m], added)
    note = f"+{len(added)} -{len(removed)} rows, no retrain"
    return ("save", ann), was, note + (f" (coarse error {error:.3f} vs {was['error']:.3f} at training)" if len(added) else "")

def _maybe_compact(store: Store, change: Change) -> tuple[Store, Change]:
    rows = int(store.manifest["n_rows"])
    if rows and (rows - store.n_items) / rows > COMPACT_DEAD:
        store = _rewrite(store)
        change = Change(change.added, change.replaced, change.removed,
                        {m: "rebuilt (compacted)" for m in store.manifest["index"]["trained"] or
                         (store.manifest["index"]["kinds"] if backend_of(store.manifest) else ())}, compacted=True)
    return store, change
