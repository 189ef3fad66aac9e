"""The store's file primitives: atomic writes with fsync, the writer lock, version names, media copies.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from mmrec_core.errors import StoreError


def read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {file}: {exc}") from None

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

def next_name(folder: Path, prefix: str) -> str:
    nums = [int(p.name[1:]) for p in folder.glob(f"{prefix}*") if p.name[1:].isdigit()]
    return f"{prefix}{max(nums, default=0) + 1:06d}"

def write_json(file: Path, data: Any) -> None:
    with open(file, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())

def atomic_write(file: Path, text: str) -> None:
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, file)
    fsync_dir(file.parent)

def fsync_dir(folder: Path) -> None:
    for f in folder.iterdir():
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

def manifest_of(version: Path) -> dict[str, Any]:
    try:
        return json.loads((version / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}

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


READ_ONLY_FILE = "READONLY"  # its presence marks the store read-only; its text says who marked it and why


def is_read_only(path: str | Path) -> bool:
    return (Path(path) / READ_ONLY_FILE).is_file()


def set_read_only(path: str | Path, on: bool, *, note: str = "") -> None:
    """Mark the store read-only (or writable again). Items, versions and indexes are untouched."""
    marker = Path(path) / READ_ONLY_FILE
    if not (Path(path) / "CURRENT").is_file():
        from mmrec_core.errors import StoreError

        raise StoreError(f"no store at {path}")
    if on:
        atomic_write(marker, (note or "read-only") + "\n")
    else:
        marker.unlink(missing_ok=True)


def check_writable(path: str | Path, *, force: bool = False) -> None:
    """ReadOnlyStoreError unless the store may change (or the owner forces it)."""
    if is_read_only(path) and not force:
        from mmrec_core.errors import ReadOnlyStoreError

        raise ReadOnlyStoreError(f"store {Path(path).name} is read-only: nothing was changed (its owner can add or "
                                 f"remove with --force, or make it writable: mmrec readonly {path} off)")


OWNER_FILE = "OWNER"  # who uploaded the store, on a shared dashboard (for the per-editor disk quota)


def disk_bytes(path: str | Path) -> int:
    """Bytes the store's files take on disk (each hard-linked file once)."""
    seen, total = set(), 0
    for p in Path(path).rglob("*"):
        try:
            st = p.lstat()
        except OSError:
            continue
        if p.is_file() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def owner_of(path: str | Path) -> str:
    try:
        return (Path(path) / OWNER_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def set_owner(path: str | Path, name: str) -> None:
    atomic_write(Path(path) / OWNER_FILE, name + "\n")


def prune_uploaded(root: str | Path, max_age_s: float, *, now: float | None = None) -> list[str]:
    """Delete the uploaded stores (those with an OWNER) whose live version is older than `max_age_s`; never a
    read-only one (see delete_store). Returns their names."""
    import time

    root, now = Path(root), time.time() if now is None else now
    gone = []
    for path in sorted(root.iterdir()) if root.is_dir() and max_age_s > 0 else []:
        try:
            old = now - (path / "CURRENT").stat().st_mtime > max_age_s
        except OSError:
            continue
        if old and (path / OWNER_FILE).is_file() and not is_read_only(path):
            delete_store(path)
            gone.append(path.name)
    return gone


def delete_store(path: str | Path) -> None:
    """Remove a store: renamed aside at once (no reader opens it half-deleted), then its files removed."""
    path = Path(path)
    aside = path.with_name(f".deleted-{path.name}-{os.getpid()}")
    os.rename(path, aside)
    shutil.rmtree(aside, ignore_errors=True)
