"""Reading a store: open the live version (format 1 or 2) into a Store, list stores, sweep stale upload folders.

Layout (format 2):
- STORE/CURRENT names the live version; STORE/versions/vNNNNNN/ holds manifest.json, report.json,
  audio_scaler.json, dead.npy (rows removed or replaced since the data was written) and
  index_<modality>.faiss for ANN modalities (hard-linked from the previous version when unchanged).
- STORE/data/gNNNNNN/ (a generation) holds the rows as append-only columns (see _columns.py):
  <modality>.f16 (float16 (rows, d); zero rows = missing), present.u8 ((rows, M)), ids.jsonl,
  items.jsonl + items.off, and frames.f32 / frame_rows.i32 / frame_times.f32 (catalog.FrameTable).
  A version names its generation and how many rows and bytes of it it sees, so `add` appends rows
  without copying what is there, and older versions keep reading their prefix.
- STORE/media/ holds the items' media, content-addressed and shared by versions.
Format 1 stores (float32 .npy files and items.json in the version folder) open as before; `add` and
`remove` convert them first.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections import OrderedDict
from typing import Any, Callable, Hashable, Mapping, Sequence, TypeVar

import numpy as np

from mmrec_core.catalog.video import FrameTable
from mmrec_core.encoders.librosa_audio import AudioScaler
from mmrec_core.errors import StoreError
from mmrec_core.retrieval import MODALITIES, AnnIndex, IndexConfig, Retriever, backend_of, presence
from mmrec_core.store import _columns as col
from mmrec_core.store._files import read_json

FORMAT = "mmrec-store"

FORMAT_VERSION = 2

READABLE_VERSIONS = (1, 2)

DERIVED_ENTRIES = 32  # values a Store keeps from derived(); the least recently used goes first
T = TypeVar("T")


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
    _derived: OrderedDict = field(default_factory=OrderedDict, repr=False, compare=False)
    _derived_locks: dict = field(default_factory=dict, repr=False, compare=False)

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

    def derived(self, key: Hashable, build: Callable[[], T]) -> T:
        """build()'s value, computed once per process for this version and every caller of `key`.

        For work that depends only on the version (a map's projection, facets, a cold-start ranking):
        one Store serves every dashboard session, so ten sessions pay for it once. Callers of one key
        wait for the first build (a failed build is retried by the next caller); different keys build
        in parallel. At most DERIVED_ENTRIES values are kept.
        """
        with self._retriever_lock:
            if key in self._derived:
                self._derived.move_to_end(key)
                return self._derived[key]
            lock = self._derived_locks.setdefault(key, threading.Lock())
        with lock:
            with self._retriever_lock:
                if key in self._derived:
                    return self._derived[key]
            value = build()
            with self._retriever_lock:
                self._derived[key] = value
                while len(self._derived) > DERIVED_ENTRIES:
                    self._derived_locks.pop(self._derived.popitem(last=False)[0], None)
                self._derived_locks.pop(key, None)
            return value

    def _open_retriever(self) -> Retriever:
        config = IndexConfig.stored(self.manifest.get("index", {}).get("config", {}))
        ann = {}
        for m, kind in self.manifest.get("index", {}).get("kinds", {}).items():
            f = self.version_dir / f"index_{m}.faiss"
            if kind != "flat" and f.is_file():
                ann[m] = AnnIndex.load(f, kind, config)
        backend, source = backend_of(self.manifest), None
        if backend is not None:
            from mmrec_core.retrieval.milvus import MilvusSource

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
    manifest = read_json(vdir / "manifest.json")
    if manifest.get("format") != FORMAT or manifest.get("format_version") not in READABLE_VERSIONS:
        raise StoreError(f"store {path}: unsupported format {manifest.get('format')!r} v{manifest.get('format_version')!r}")
    scaler = AudioScaler.from_dict(read_json(vdir / "audio_scaler.json"))
    report_file = vdir / "report.json"
    report = read_json(report_file) if report_file.is_file() else []
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
    items = read_json(vdir / "items.json")
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
