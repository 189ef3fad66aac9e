"""A store on disk: versioned, written atomically, validated on open.

Layout: STORE/CURRENT names the live version; STORE/versions/vNNNNNN/ holds manifest.json,
items.json, report.json, {text,image,audio}.npy (float32 (n, d), zero rows = missing),
audio_scaler.json, index_<modality>.faiss for ANN modalities and, when items have videos,
frames.npy / frame_rows.npy / frame_times.npy (video.FrameTable); STORE/media/ holds the
items' media, content-addressed and shared by versions. A version is written to a temp folder
and renamed, then CURRENT is replaced: a crash leaves the previous version live.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mmrec_core.audio import AudioScaler
from mmrec_core.errors import StoreError
from mmrec_core.fusion import MODALITIES
from mmrec_core.index import AnnIndex, IndexConfig
from mmrec_core.search import Retriever
from mmrec_core.video import FrameTable

FORMAT = "mmrec-store"
FORMAT_VERSION = 1
KEEP_VERSIONS = 3


@dataclass
class Store:
    """An opened store version. Row i of every embedding belongs to items[i]['id']."""

    path: Path
    version: str
    manifest: dict[str, Any]
    items: list[dict[str, Any]]
    embeddings: dict[str, np.ndarray]
    scaler: AudioScaler
    report: list[dict[str, str]] = field(default_factory=list)
    frames: FrameTable | None = None  # sampled video frames; None: an empty table of the image dimension
    _retriever: Retriever | None = None
    # One Store is shared by every dashboard session (through the cached Engine): without the lock,
    # sessions that search at once each load the FAISS indexes, one full copy per session.
    _retriever_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.frames is None:
            self.frames = FrameTable.empty(int(self.embeddings["image"].shape[1]))

    @property
    def ids(self) -> list[str]:
        return [it["id"] for it in self.items]

    @property
    def encoder(self) -> str:
        return str(self.manifest["encoder"]["name"])

    @property
    def version_dir(self) -> Path:
        return self.path / "versions" / self.version

    def row_of(self, item_id: str) -> int:
        if not hasattr(self, "_rows"):
            self._rows = {iid: i for i, iid in enumerate(self.ids)}
        try:
            return self._rows[item_id]
        except KeyError:
            raise StoreError(f"no item with id {item_id!r} in this store") from None

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
        return Retriever(self.embeddings, config=config, ann=ann)


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
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"store {path}: unsupported format {manifest.get('format')!r} v{manifest.get('format_version')!r}")
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
        embeddings[m] = np.asarray(arr) if not mmap else arr
    scaler = AudioScaler.from_dict(_read_json(vdir / "audio_scaler.json"))
    report_file = vdir / "report.json"
    report = _read_json(report_file) if report_file.is_file() else []
    return Store(path, version, manifest, items, embeddings, scaler, report, _read_frames(path, vdir, manifest, mmap))


FRAME_FILES = ("frame_rows.npy", "frame_times.npy", "frames.npy")


def _read_frames(path: Path, vdir: Path, manifest: Mapping[str, Any], mmap: bool) -> FrameTable:
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
) -> Store:
    """Write a new version atomically and make it live; returns it opened."""
    path = Path(path)
    n = len(items)
    frames = frames if frames is not None else FrameTable.empty(int(embeddings["image"].shape[1]))
    for m in MODALITIES:
        if embeddings[m].shape[0] != n or embeddings[m].dtype != np.float32:
            raise StoreError(f"{m} embeddings {embeddings[m].dtype} {embeddings[m].shape} do not match {n} items")
    versions = path / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    version = _next_version(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=versions))
    try:
        retriever = Retriever(dict(embeddings), config=index_config)
        for m, ann in retriever.build_ann().items():
            ann.save(tmp / f"index_{m}.faiss")
        for m in MODALITIES:
            np.save(tmp / f"{m}.npy", np.ascontiguousarray(embeddings[m]))
        if len(frames):
            for f, arr in zip(FRAME_FILES, (frames.rows.astype(np.int32), frames.times.astype(np.float32),
                                            frames.vectors.astype(np.float32))):
                np.save(tmp / f, np.ascontiguousarray(arr))
        present = retriever.present
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "n_items": n,
            "dims": {m: int(embeddings[m].shape[1]) for m in MODALITIES},
            "counts": {**{m: int(present[:, j].sum()) for j, m in enumerate(MODALITIES)},
                       "video": int(np.unique(frames.rows).size)},
            "frames": len(frames),
            "encoder": dict(encoder),
            "index": {"config": index_config.__dict__, "kinds": retriever.kinds},
            **(dict(extra) if extra else {}),
        }
        _write_json(tmp / "items.json", list(items))
        _write_json(tmp / "report.json", list(report))
        _write_json(tmp / "audio_scaler.json", scaler.to_dict())
        _write_json(tmp / "manifest.json", manifest)
        _fsync_dir(tmp)
        os.rename(tmp, versions / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _atomic_write(path / "CURRENT", version + "\n")
    _prune(path, keep=KEEP_VERSIONS)
    return open_store(path)


def _next_version(path: Path) -> str:
    nums = [int(p.name[1:]) for p in (path / "versions").glob("v*") if p.name[1:].isdigit()]
    return f"v{max(nums, default=0) + 1:06d}"


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
    """Drop old versions and leftover temp folders (never the live one)."""
    live = (path / "CURRENT").read_text().strip()
    versions = sorted(p for p in (path / "versions").iterdir() if p.name.startswith("v"))
    for old in versions[:-keep]:
        if old.name != live:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in (path / "versions").glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)


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
