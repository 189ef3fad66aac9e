"""Writing a store version: a new generation of rows and its indexes, committed atomically; old versions pruned.

A version is written to a temp folder and renamed, then CURRENT is replaced: a crash leaves the
previous version live. One writer at a time (STORE/.write.lock, see _files.writing).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mmrec_core.catalog.video import FrameTable
from mmrec_core.encoders.librosa_audio import AudioScaler
from mmrec_core.errors import StoreError
from mmrec_core.retrieval import MODALITIES, AnnIndex, IndexConfig, Retriever, backend_of, parse_backend, presence
from mmrec_core.store import _columns as col
from mmrec_core.store._files import atomic_write, fsync_dir, manifest_of, next_name, write_json, writing
from mmrec_core.store._read import FORMAT, FORMAT_VERSION, Store, open_store

KEEP_VERSIONS = 3

@dataclass(frozen=True)
class Rows:
    """New rows for a store: records (each with an 'id'), float32-compatible vectors (n, d) per modality, frames."""

    items: Sequence[Mapping[str, Any]]
    embeddings: Mapping[str, np.ndarray]
    frames: FrameTable | None = None  # frame rows count from 0 = the first of these rows

    def __post_init__(self) -> None:
        n = len(self.items)
        for m in MODALITIES:
            e = self.embeddings[m]
            if e.shape[0] != n or e.dtype not in (np.float32, np.float16):
                raise StoreError(f"{m} embeddings {e.dtype} {e.shape} do not match {n} items")

@dataclass(frozen=True)
class Change:
    """What an add or remove did: counts, and per modality how its index was updated."""

    added: int = 0
    replaced: int = 0
    removed: int = 0
    index: Mapping[str, str] = field(default_factory=dict)  # modality -> 'added 12 rows', 'retrained (...)', ...
    compacted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "replaced": self.replaced, "removed": self.removed,
                "index": dict(self.index), "compacted": self.compacted}

def write_store(
    path: str | Path,
    *,
    items: Sequence[Mapping[str, Any]],
    embeddings: Mapping[str, np.ndarray],
    scaler: AudioScaler,
    encoder: Mapping[str, Any],
    report: Sequence[Mapping[str, str]] = (),
    index_config: IndexConfig = IndexConfig(),
    extra: Mapping[str, Any] | None = None,
    frames: FrameTable | None = None,
    index: str | None = None,
) -> Store:
    """Write the rows into a new generation and a new version, atomically, and make it live; returns it opened.

    embeddings may be memory-mapped float32 or float16 arrays: they are copied in blocks of rows.
    index names the backend (retrieval._backends: faiss, milvus, milvus://HOST:PORT[/COLLECTION]); None keeps the
    store's own, or FAISS for a new store.
    """
    path = Path(path)
    rows = Rows(items, embeddings, frames)
    backend = parse_backend(index, store_name=path.name) if index is not None else None
    with writing(path):
        if index is None and (path / "CURRENT").is_file():
            with contextlib.suppress(StoreError):
                backend = backend_of(open_store(path).manifest)
        meta = {"encoder": dict(encoder), **(dict(extra) if extra else {})}
        return new_generation(path, rows, scaler, list(report), index_config, meta, backend)

def new_generation(path: Path, rows: Rows, scaler: AudioScaler, report: list, config: IndexConfig,
                    meta: Mapping[str, Any], backend: Mapping[str, Any] | None = None) -> Store:
    data = path / "data"
    data.mkdir(parents=True, exist_ok=True)
    name = next_name(data, "g")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=data))
    try:
        dims = {m: int(rows.embeddings[m].shape[1]) for m in MODALITIES}
        sizes = append_rows(tmp, rows, dims, _empty_sizes())
        fsync_dir(tmp)
        os.rename(tmp, data / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    gen = data / name
    present = np.array(col.open_rows(gen / "present.u8", np.uint8, len(rows.items), len(MODALITIES)), dtype=bool)
    retriever = Retriever({m: col.open_rows(col.vector_file(gen, m), np.float16, len(rows.items), dims[m])
                           for m in MODALITIES}, config=config, present=present)
    if backend is None:
        anns = retriever.build_ann()
        trained, kinds = {m: {"rows": ann.size, "error": drift_reference(ann)} for m, ann in anns.items()}, retriever.kinds
    else:
        from mmrec_core.retrieval import milvus

        anns, trained = {}, {}
        kinds = milvus.build(path, backend, name, retriever.embeddings, present, config)
    manifest = build_manifest(meta, name, len(rows.items), 0, sizes, dims, present, config, kinds,
                         trained, frames=sizes["frames"], videos=count_videos(gen, sizes["frames"]), backend=backend)
    return commit_version(path, manifest, report, scaler, {m: ("save", a) for m, a in anns.items()}, dead=np.zeros(0, np.int64))

def _empty_sizes() -> dict[str, int]:
    return {"rows": 0, "ids": 0, "items": 0, "frames": 0}

def append_rows(gen: Path, rows: Rows, dims: Mapping[str, int], sizes: Mapping[str, int]) -> dict[str, int]:
    """Append rows after the `sizes` a live version sees (cutting anything a killed writer left past them)."""
    start, n = int(sizes["rows"]), len(rows.items)
    for m in MODALITIES:
        col.append_rows(col.vector_file(gen, m), rows.embeddings[m], keep_bytes=start * dims[m] * 2, dtype=np.float16)
    col.append_rows(gen / "present.u8", presence(rows.embeddings).astype(np.uint8),
                    keep_bytes=start * len(MODALITIES), dtype=np.uint8)
    out = col.append_records(gen, rows.items, keep=sizes, start_row=start)
    frames = rows.frames if rows.frames is not None else FrameTable.empty(dims["image"])
    t0, t = int(sizes["frames"]), len(frames)
    col.append_rows(gen / "frame_rows.i32", np.asarray(frames.rows, np.int64) + start, keep_bytes=t0 * 4, dtype=np.int32)
    col.append_rows(gen / "frame_times.f32", frames.times, keep_bytes=t0 * 4, dtype=np.float32)
    col.append_rows(gen / "frames.f32", frames.vectors, keep_bytes=t0 * dims["image"] * 4, dtype=np.float32)
    return {"rows": start + n, **out, "frames": t0 + t}

def count_videos(gen: Path, frames: int, dead: np.ndarray | None = None) -> int:
    rows = np.unique(col.open_rows(gen / "frame_rows.i32", np.int32, frames))
    return int(rows.size if dead is None or not len(dead) else np.setdiff1d(rows, dead).size)

def drift_reference(ann: AnnIndex) -> float:
    """The drift reference of a freshly trained index: the coarse error of rows its k-means did not see."""
    return round(ann.reference_error, 6)

def build_manifest(meta: Mapping[str, Any], gen: str, n_rows: int, n_dead: int, sizes: Mapping[str, int],
              dims: Mapping[str, int], present: np.ndarray, config: IndexConfig, kinds: Mapping[str, str],
              trained: Mapping[str, Any], *, frames: int, videos: int, change: Change | None = None,
              backend: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "n_items": n_rows - n_dead,
        "n_rows": n_rows,
        "data": gen,
        "bytes": {"ids": sizes["ids"], "items": sizes["items"]},
        "dims": dict(dims),
        "counts": {**{m: int(present[:, j].sum()) for j, m in enumerate(MODALITIES)}, "video": videos},
        "frames": frames,
        "index": {"config": config.__dict__, "kinds": dict(kinds), "trained": dict(trained),
                  **({"backend": dict(backend)} if backend else {})},
        **({"last_change": change.to_json()} if change else {}),
        **meta,
    }

def commit_version(path: Path, manifest: Mapping[str, Any], report: list, scaler: AudioScaler,
            indexes: Mapping[str, tuple[str, Any]], *, dead: np.ndarray) -> Store:
    """Write the version folder (indexes: modality -> ('save', AnnIndex) or ('link', file)), make it live."""
    versions = path / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    version = next_name(versions, "v")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=versions))
    try:
        for m, (how, what) in indexes.items():
            if how == "link":
                os.link(what, tmp / f"index_{m}.faiss")
            else:
                what.save(tmp / f"index_{m}.faiss")
        if len(dead):
            np.save(tmp / "dead.npy", np.asarray(dead, np.int64))
        write_json(tmp / "report.json", report)
        write_json(tmp / "audio_scaler.json", scaler.to_dict())
        write_json(tmp / "manifest.json", dict(manifest))
        fsync_dir(tmp)
        os.rename(tmp, versions / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write(path / "CURRENT", version + "\n")
    _prune(path, keep=KEEP_VERSIONS)
    return open_store(path)

def drop_orphans(path: Path, live: str) -> None:
    """Versions newer than the live one were never made live (a writer was killed between rename and CURRENT)."""
    for v in (path / "versions").glob("v*"):
        if v.name > live:
            shutil.rmtree(v, ignore_errors=True)

def _prune(path: Path, *, keep: int) -> None:
    """Drop old versions, generations no kept version reads (and their Milvus collections), and leftover temp
    folders (never the live one)."""
    live = (path / "CURRENT").read_text().strip()
    versions = sorted(p for p in (path / "versions").iterdir() if p.name.startswith("v"))
    backends = {m.get("data"): backend_of(m) for m in map(manifest_of, versions) if backend_of(m)}
    for old in versions[:-keep]:
        if old.name != live:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in (path / "versions").glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    if not (path / "data").is_dir():
        return
    used = {str(manifest_of(v).get("data")) for v in (path / "versions").glob("v*")}
    for gen in (path / "data").iterdir():
        if gen.name.startswith(".tmp-") or (gen.name.startswith("g") and gen.name not in used):
            shutil.rmtree(gen, ignore_errors=True)
    for gen, backend in backends.items():
        if gen not in used:
            _drop_collection(path, str(gen), backend)

def _drop_collection(path: Path, generation: str, backend: Mapping[str, Any]) -> None:
    """A pruned generation's Milvus collection goes with it (best effort, like the folders)."""
    from mmrec_core.retrieval import milvus

    with contextlib.suppress(StoreError):
        milvus.drop(path, backend, generation)
