"""A store on disk: versioned, written atomically, validated on open, grown in place by add and remove.

Layout (format 2):
- STORE/CURRENT names the live version; STORE/versions/vNNNNNN/ holds manifest.json, report.json,
  audio_scaler.json, dead.npy (rows removed or replaced since the data was written) and
  index_<modality>.faiss for ANN modalities (hard-linked from the previous version when unchanged).
- STORE/data/gNNNNNN/ (a generation) holds the rows as append-only columns (see columns.py):
  <modality>.f16 (float16 (rows, d); zero rows = missing), present.u8 ((rows, M)), ids.jsonl,
  items.jsonl + items.off, and frames.f32 / frame_rows.i32 / frame_times.f32 (video.FrameTable).
  A version names its generation and how many rows and bytes of it it sees, so `add` appends rows
  without copying what is there, and older versions keep reading their prefix.
- STORE/media/ holds the items' media, content-addressed and shared by versions.
A version is written to a temp folder and renamed, then CURRENT is replaced: a crash leaves the
previous version live. One writer at a time (STORE/.write.lock). Format 1 stores (float32 .npy
files and items.json in the version folder) open as before; `add` and `remove` convert them first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from mmrec_core import columns as col
from mmrec_core.audio import AudioScaler
from mmrec_core.backends import backend_of, parse_backend
from mmrec_core.errors import StoreError
from mmrec_core.fusion import MODALITIES
from mmrec_core.index import AnnIndex, IndexConfig
from mmrec_core.search import Retriever, presence
from mmrec_core.video import FrameTable

FORMAT = "mmrec-store"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
KEEP_VERSIONS = 3
COMPACT_DEAD = 0.25  # rewrite the rows without the dead ones when more than this share is dead
DRIFT_GROWTH = 1.0  # retrain an IVF index once the rows added since training exceed this share of those trained on
DRIFT_ERROR = 1.25  # ... or once added vectors sit this much farther from their centroids than the training set


@dataclass
class Store:
    """An opened store version. Row r of every embedding belongs to ids[r]; a removed row's id is ''.

    embeddings are float16 (format 2) or float32 (format 1) arrays, usually memory-mapped: read rows
    through `vectors`, which returns the float32 contract.
    """

    path: Path
    version: str
    manifest: dict[str, Any]
    items: Sequence[dict[str, Any]]
    embeddings: dict[str, np.ndarray]
    scaler: AudioScaler
    report: list[dict[str, str]] = field(default_factory=list)
    frames: FrameTable | None = None  # sampled video frames; None: an empty table of the image dimension
    present: np.ndarray | None = None  # (rows, M) bool: the row has the modality and is live; None: from the norms
    id_list: list[str] | None = None  # ids by row ('' = removed); None: read from items
    _retriever: Retriever | None = None
    # One Store is shared by every dashboard session (through the cached Engine): without the lock,
    # sessions that search at once each load the FAISS indexes, one full copy per session.
    _retriever_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.frames is None:
            self.frames = FrameTable.empty(int(self.embeddings["image"].shape[1]))
        if self.present is None:
            self.present = presence(self.embeddings)
        if self.id_list is None:
            self.id_list = [it["id"] for it in self.items]

    @property
    def ids(self) -> list[str]:
        return self.id_list

    @property
    def n_items(self) -> int:
        """Live items (rows that were not removed or replaced)."""
        return int(self.manifest["n_items"])

    @property
    def live_rows(self) -> np.ndarray:
        """Rows of the live items, ascending int64."""
        if not hasattr(self, "_live"):
            self._live = np.flatnonzero(np.fromiter((bool(i) for i in self.id_list), bool, len(self.id_list)))
        return self._live

    @property
    def encoder(self) -> str:
        return str(self.manifest["encoder"]["name"])

    @property
    def version_dir(self) -> Path:
        return self.path / "versions" / self.version

    def rows_by_id(self) -> dict[str, int]:
        """id -> row of every live item (built once)."""
        if not hasattr(self, "_rows"):
            self._rows = {self.id_list[r]: int(r) for r in self.live_rows}
        return self._rows

    def row_of(self, item_id: str) -> int:
        try:
            return self.rows_by_id()[item_id]
        except KeyError:
            raise StoreError(f"no item with id {item_id!r} in this store") from None

    def vectors(self, modality: str, rows: Sequence[int] | np.ndarray | slice) -> np.ndarray:
        """float32 rows of one modality: (len(rows), d) for a list or slice of rows."""
        if not isinstance(rows, slice):
            rows = np.asarray(rows, dtype=np.int64)
        return np.asarray(self.embeddings[modality][rows], dtype=np.float32)

    @property
    def source(self) -> Path | None:
        """The catalog folder this store was ingested from, while it still exists."""
        raw = str(self.manifest.get("source") or "")
        return Path(raw) if raw and Path(raw).is_dir() else None

    def poster_time(self, item_id: str) -> float:
        """When the item's first sampled video frame is shown (seconds); 0.0 for an item without video."""
        times, _ = self.frames.of(self.row_of(item_id))
        return float(times[0]) if len(times) else 0.0

    def media_path(self, rel: str | None) -> Path | None:
        return None if not rel else self.path / rel

    def counts(self) -> dict[str, int]:
        return dict(self.manifest["counts"])

    @property
    def retriever(self) -> Retriever:
        with self._retriever_lock:
            if self._retriever is None:
                self._retriever = self._open_retriever()
            return self._retriever

    def _open_retriever(self) -> Retriever:
        config = IndexConfig(**self.manifest.get("index", {}).get("config", {}))
        ann = {}
        for m, kind in self.manifest.get("index", {}).get("kinds", {}).items():
            f = self.version_dir / f"index_{m}.faiss"
            if kind != "flat" and f.is_file():
                ann[m] = AnnIndex.load(f, kind, config)
        backend, source = backend_of(self.manifest), None
        if backend is not None:
            from mmrec_core.milvus import MilvusSource

            source = MilvusSource(self.path, backend, self.manifest)
        return Retriever(self.embeddings, config=config, ann=ann, present=self.present, source=source)


STALE_UPLOAD_SECONDS = 24 * 3600


def sweep_stale_uploads(root: Path, *, max_age: float = STALE_UPLOAD_SECONDS, now: float | None = None) -> list[Path]:
    """Remove `.upload-*` work folders (under root and under each store) untouched for `max_age` seconds.

    An upload or ingest stages its files there and removes them when it ends; only a killed process
    leaves one behind. A day is far longer than any ingest keeps a folder unchanged.
    """
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for folder in [*root.glob(".upload-*"), *root.glob("*/.upload-*")]:
        try:
            if folder.is_dir() and not folder.is_symlink() and now - folder.stat().st_mtime > max_age:
                shutil.rmtree(folder)
                removed.append(folder)
        except OSError:
            continue  # another process removed it first, or it is not ours to remove
    return removed


def list_stores(root: Path) -> list[Path]:
    """Store folders (those with a CURRENT file) directly under root, sorted by name."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / "CURRENT").is_file())


def open_store(path: str | Path, *, mmap: bool = True) -> Store:
    """Open the live version of a store; StoreError if it is missing, incomplete or inconsistent."""
    path = Path(path)
    current = path / "CURRENT"
    if not current.is_file():
        raise StoreError(f"{path} is not an mmrec store (no CURRENT file); create one with `ingest`")
    version = current.read_text().strip()
    vdir = path / "versions" / version
    if not version.startswith("v") or not vdir.is_dir():
        raise StoreError(f"store {path}: CURRENT names {version!r}, which does not exist")
    manifest = _read_json(vdir / "manifest.json")
    if manifest.get("format") != FORMAT or manifest.get("format_version") not in READABLE_VERSIONS:
        raise StoreError(f"store {path}: unsupported format {manifest.get('format')!r} v{manifest.get('format_version')!r}")
    scaler = AudioScaler.from_dict(_read_json(vdir / "audio_scaler.json"))
    report_file = vdir / "report.json"
    report = _read_json(report_file) if report_file.is_file() else []
    if manifest["format_version"] == 1:
        return _open_v1(path, version, vdir, manifest, scaler, report, mmap)
    try:
        return _open_v2(path, version, vdir, manifest, scaler, report, mmap)
    except (OSError, ValueError) as exc:
        raise StoreError(f"store {path}: cannot read version {version}: {exc}") from None


def _open_v2(path: Path, version: str, vdir: Path, manifest: Mapping[str, Any], scaler: AudioScaler,
             report: list, mmap: bool) -> Store:
    gen = path / "data" / str(manifest["data"])
    rows, sizes = int(manifest["n_rows"]), manifest["bytes"]
    embeddings = {}
    for m in MODALITIES:
        arr = col.open_rows(col.vector_file(gen, m), np.float16, rows, int(manifest["dims"][m]))
        embeddings[m] = arr if mmap else np.array(arr)
    present = np.array(col.open_rows(gen / "present.u8", np.uint8, rows, len(MODALITIES)), dtype=bool)
    ids = col.read_ids(gen, rows, int(sizes["ids"]))
    dead = np.load(vdir / "dead.npy", allow_pickle=False) if (vdir / "dead.npy").is_file() else np.zeros(0, np.int64)
    present[dead] = False
    for r in dead:
        ids[r] = ""
    if rows - len(dead) != int(manifest["n_items"]):
        raise StoreError(f"store {path}: {rows} rows less {len(dead)} removed is not the {manifest['n_items']} items "
                         "the manifest counts")
    items = col.ItemTable(gen / "items.jsonl", np.array(col.open_rows(gen / "items.off", np.int64, rows)),
                          int(sizes["items"]))
    count, dim = int(manifest.get("frames", 0)), int(manifest["dims"]["image"])
    frames = FrameTable(np.array(col.open_rows(gen / "frame_rows.i32", np.int32, count)),
                        np.array(col.open_rows(gen / "frame_times.f32", np.float32, count)),
                        col.open_rows(gen / "frames.f32", np.float32, count, dim))
    return Store(path, version, dict(manifest), items, embeddings, scaler, report, frames, present, ids)


def _open_v1(path: Path, version: str, vdir: Path, manifest: Mapping[str, Any], scaler: AudioScaler,
             report: list, mmap: bool) -> Store:
    """A store written before append-only columns: float32 .npy files and items.json in the version folder."""
    items = _read_json(vdir / "items.json")
    n = int(manifest["n_items"])
    if not isinstance(items, list) or len(items) != n:
        raise StoreError(f"store {path}: items.json holds {len(items) if isinstance(items, list) else '?'} items, manifest says {n}")
    embeddings = {}
    for m in MODALITIES:
        try:
            arr = np.load(vdir / f"{m}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise StoreError(f"store {path}: cannot read {m}.npy: {exc}") from None
        dim = int(manifest["dims"][m])
        if arr.dtype != np.float32 or arr.shape != (n, dim):
            raise StoreError(f"store {path}: {m}.npy is {arr.dtype} {arr.shape}, manifest says float32 ({n}, {dim})")
        embeddings[m] = arr
    return Store(path, version, {**manifest, "n_rows": n}, items, embeddings, scaler, report,
                 _read_frames_v1(path, vdir, manifest, mmap))


FRAME_FILES = ("frame_rows.npy", "frame_times.npy", "frames.npy")


def _read_frames_v1(path: Path, vdir: Path, manifest: Mapping[str, Any], mmap: bool) -> FrameTable:
    dim, n, count = int(manifest["dims"]["image"]), int(manifest["n_items"]), int(manifest.get("frames", 0))
    if not count:  # stores without videos (and every store written before videos) have no frame files
        return FrameTable.empty(dim)
    try:
        rows, times, vecs = (np.load(vdir / f, mmap_mode="r" if mmap else None, allow_pickle=False) for f in FRAME_FILES)
    except (OSError, ValueError) as exc:
        raise StoreError(f"store {path}: cannot read the video frames: {exc}") from None
    if (rows.shape != (count,) or times.shape != (count,) or vecs.shape != (count, dim)
            or vecs.dtype != np.float32 or (count and (rows[0] < 0 or rows[-1] >= n))):
        raise StoreError(f"store {path}: video frame files do not match the manifest ({count} frames of dimension {dim})")
    return FrameTable(np.asarray(rows), np.asarray(times), vecs)


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {file}: {exc}") from None


# ---------- writing ----------

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


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """The store's writer lock: an add, a remove and an ingest into one store wait for each other."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".write.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
    index names the backend (backends.py: faiss, milvus, milvus://HOST:PORT[/COLLECTION]); None keeps the
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
        return _new_generation(path, rows, scaler, list(report), index_config, meta, backend)


def _new_generation(path: Path, rows: Rows, scaler: AudioScaler, report: list, config: IndexConfig,
                    meta: Mapping[str, Any], backend: Mapping[str, Any] | None = None) -> Store:
    data = path / "data"
    data.mkdir(parents=True, exist_ok=True)
    name = _next_name(data, "g")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=data))
    try:
        dims = {m: int(rows.embeddings[m].shape[1]) for m in MODALITIES}
        sizes = _append(tmp, rows, dims, _empty_sizes())
        _fsync_dir(tmp)
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
        trained, kinds = {m: {"rows": ann.size, "error": _error(ann)} for m, ann in anns.items()}, retriever.kinds
    else:
        from mmrec_core import milvus

        anns, trained = {}, {}
        kinds = milvus.build(path, backend, name, retriever.embeddings, present, config)
    manifest = _manifest(meta, name, len(rows.items), 0, sizes, dims, present, config, kinds,
                         trained, frames=sizes["frames"], videos=_videos(gen, sizes["frames"]), backend=backend)
    return _commit(path, manifest, report, scaler, {m: ("save", a) for m, a in anns.items()}, dead=np.zeros(0, np.int64))


def _empty_sizes() -> dict[str, int]:
    return {"rows": 0, "ids": 0, "items": 0, "frames": 0}


def _append(gen: Path, rows: Rows, dims: Mapping[str, int], sizes: Mapping[str, int]) -> dict[str, int]:
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


def _videos(gen: Path, frames: int, dead: np.ndarray | None = None) -> int:
    rows = np.unique(col.open_rows(gen / "frame_rows.i32", np.int32, frames))
    return int(rows.size if dead is None or not len(dead) else np.setdiff1d(rows, dead).size)


def _error(ann: AnnIndex) -> float:
    """The drift reference of a freshly trained index: the coarse error of rows its k-means did not see."""
    return round(ann.reference_error, 6)


def _manifest(meta: Mapping[str, Any], gen: str, n_rows: int, n_dead: int, sizes: Mapping[str, int],
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


def _commit(path: Path, manifest: Mapping[str, Any], report: list, scaler: AudioScaler,
            indexes: Mapping[str, tuple[str, Any]], *, dead: np.ndarray) -> Store:
    """Write the version folder (indexes: modality -> ('save', AnnIndex) or ('link', file)), make it live."""
    versions = path / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    version = _next_name(versions, "v")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=versions))
    try:
        for m, (how, what) in indexes.items():
            if how == "link":
                os.link(what, tmp / f"index_{m}.faiss")
            else:
                what.save(tmp / f"index_{m}.faiss")
        if len(dead):
            np.save(tmp / "dead.npy", np.asarray(dead, np.int64))
        _write_json(tmp / "report.json", report)
        _write_json(tmp / "audio_scaler.json", scaler.to_dict())
        _write_json(tmp / "manifest.json", dict(manifest))
        _fsync_dir(tmp)
        os.rename(tmp, versions / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _atomic_write(path / "CURRENT", version + "\n")
    _prune(path, keep=KEEP_VERSIONS)
    return open_store(path)


def _next_name(folder: Path, prefix: str) -> str:
    nums = [int(p.name[1:]) for p in folder.glob(f"{prefix}*") if p.name[1:].isdigit()]
    return f"{prefix}{max(nums, default=0) + 1:06d}"


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
    return _new_generation(store.path, rows, store.scaler, list(store.report), config, meta, backend_of(store.manifest))


def _live_v2(path: Path) -> Store:
    store = open_store(path)
    return store if store.manifest["format_version"] == FORMAT_VERSION else _rewrite(store)


def add_items(path: str | Path, rows: Rows, *, encoder: Mapping[str, Any],
              report: Sequence[Mapping[str, str]] = ()) -> tuple[Store, Change]:
    """Append rows to the live store (an id that exists is replaced); indexes take them without retraining
    unless they drifted. Returns the new live version and what changed."""
    path = Path(path)
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


def remove_items(path: str | Path, ids: Sequence[str]) -> tuple[Store, Change]:
    """Remove items by id (their rows become dead; indexes drop them). StoreError names unknown ids."""
    path = Path(path)
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
    _drop_orphans(path, live.version)
    dims = {m: int(manifest["dims"][m]) for m in MODALITIES}
    sizes = {"rows": int(manifest["n_rows"]), **manifest["bytes"], "frames": int(manifest.get("frames", 0))}
    sizes = _append(gen, rows, dims, sizes) if len(rows.items) else sizes
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
        from mmrec_core import milvus

        kinds = manifest["index"]["kinds"]  # chosen when the generation was built; Milvus indexes new rows itself
        removed = {m: int(live.present[gone, j].sum()) for j, m in enumerate(MODALITIES)}
        notes = milvus.grow(path, backend, str(manifest["data"]), retriever.embeddings, present, new, removed, kinds)
    meta = {k: v for k, v in manifest.items() if k in ("encoder", "source")}
    out = _manifest(meta, str(manifest["data"]), n_rows, len(dead), sizes, dims, present, config, kinds,
                    trained, frames=sizes["frames"], videos=_videos(gen, sizes["frames"], dead),
                    change=Change(change.added, change.replaced, change.removed, notes), backend=backend)
    store = _commit(path, out, report, live.scaler, indexes, dead=dead)
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
        return ("save", ann), {"rows": ann.size, "error": _error(ann)}, f"built {kind} over {ann.size} rows"
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
        return ("save", ann), {"rows": ann.size, "error": _error(ann)}, f"retrained ({why})"
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


def _drop_orphans(path: Path, live: str) -> None:
    """Versions newer than the live one were never made live (a writer was killed between rename and CURRENT)."""
    for v in (path / "versions").glob("v*"):
        if v.name > live:
            shutil.rmtree(v, ignore_errors=True)


def _write_json(file: Path, data: Any) -> None:
    with open(file, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())


def _atomic_write(file: Path, text: str) -> None:
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, file)
    _fsync_dir(file.parent)


def _fsync_dir(folder: Path) -> None:
    for f in folder.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(path: Path, *, keep: int) -> None:
    """Drop old versions, generations no kept version reads (and their Milvus collections), and leftover temp
    folders (never the live one)."""
    live = (path / "CURRENT").read_text().strip()
    versions = sorted(p for p in (path / "versions").iterdir() if p.name.startswith("v"))
    backends = {m.get("data"): backend_of(m) for m in map(_manifest_of, versions) if backend_of(m)}
    for old in versions[:-keep]:
        if old.name != live:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in (path / "versions").glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    if not (path / "data").is_dir():
        return
    used = {str(_manifest_of(v).get("data")) for v in (path / "versions").glob("v*")}
    for gen in (path / "data").iterdir():
        if gen.name.startswith(".tmp-") or (gen.name.startswith("g") and gen.name not in used):
            shutil.rmtree(gen, ignore_errors=True)
    for gen, backend in backends.items():
        if gen not in used:
            _drop_collection(path, str(gen), backend)


def _manifest_of(version: Path) -> dict[str, Any]:
    try:
        return json.loads((version / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def _drop_collection(path: Path, generation: str, backend: Mapping[str, Any]) -> None:
    """A pruned generation's Milvus collection goes with it (best effort, like the folders)."""
    from mmrec_core import milvus

    with contextlib.suppress(StoreError):
        milvus.drop(path, backend, generation)


def store_media(path: Path, src: Path, key: str) -> str:
    """Copy a media file into STORE/media/ under its content key; returns the store-relative path."""
    rel = f"media/{key[:2]}/{key[:24]}{src.suffix.lower()}"
    dest = path / rel
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    return rel
