"""Catalogs: a folder, a .zip or a catalog.csv with id,title,description,image,audio,video,tags.

Reading a catalog never fails because of one bad row or file: every problem is recorded as a
`Problem(item_id, modality, reason)` and the good items are kept. Only a catalog that cannot be
read at all (no CSV, no `id` column, unsafe archive) raises `CatalogError`.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from mmrec_core.catalog.video import VIDEO_EXTS
from mmrec_core.errors import CatalogError

CATALOG_FILE = "catalog.csv"
COLUMNS = ("id", "title", "description", "image", "audio", "video", "tags")
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"})
AUDIO_EXTS = frozenset({".wav", ".ogg", ".flac", ".mp3"})
MAX_TEXT_CHARS = 4000
MAX_ID_CHARS = 200


@dataclass(frozen=True)
class Limits:
    """Archive limits, checked from the zip directory before anything is extracted."""

    max_files: int = 20_000
    max_total_bytes: int = 2 * 1024**3
    max_ratio: float = 200.0  # uncompressed/compressed per entry: beyond it, a zip bomb
    max_items: int = 1_000_000  # catalog.csv rows


@dataclass(frozen=True)
class Item:
    """One catalog entry; `image`/`audio`/`video` are absolute paths or None when absent."""

    id: str
    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    image: Path | None = None
    audio: Path | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    video: Path | None = None

    @property
    def text(self) -> str:
        """Title plus description: what the text encoder sees."""
        parts = [p for p in (self.title.strip(), self.description.strip()) if p]
        return ". ".join(parts)


@dataclass(frozen=True)
class Problem:
    """Something wrong with one item (or the whole file when item_id is '*')."""

    item_id: str
    modality: str
    reason: str


@dataclass(frozen=True)
class Catalog:
    root: Path
    items: tuple[Item, ...]
    problems: tuple[Problem, ...]


def load_catalog(src: str | Path, *, workdir: Path | None = None, limits: Limits = Limits()) -> Catalog:
    """Read a catalog from a folder, a catalog.csv or a .zip (extracted safely into `workdir`)."""
    src = Path(src)
    if not src.exists():
        raise CatalogError(f"catalog {src} does not exist")
    if src.is_file() and zipfile.is_zipfile(src):
        if workdir is None:
            raise CatalogError("a .zip catalog needs a workdir to extract into")
        src = find_catalog_csv(safe_extract(src, workdir, limits=limits))
    elif src.is_dir():
        src = find_catalog_csv(src)
    elif src.suffix.lower() == ".zip":
        raise CatalogError(f"{src.name} is not a valid zip archive")
    return parse_catalog_csv(src, max_items=limits.max_items)


def find_catalog_csv(folder: Path) -> Path:
    """catalog.csv at the folder's top, or inside its single top-level folder."""
    direct = folder / CATALOG_FILE
    if direct.is_file():
        return direct
    subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    if len(subdirs) == 1 and (subdirs[0] / CATALOG_FILE).is_file():
        return subdirs[0] / CATALOG_FILE
    raise CatalogError(f"no {CATALOG_FILE} found in {folder.name} (looked at the top and one folder down)")


def safe_extract(archive: Path, dest: Path, *, limits: Limits = Limits()) -> Path:
    """Extract a zip into `dest` after checking every entry: no escape, no links, within limits."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CatalogError(f"{archive.name} is not a readable zip archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise CatalogError(f"archive has {len(infos)} entries; the limit is {limits.max_files}")
        total = sum(i.file_size for i in infos)
        if total > limits.max_total_bytes:
            raise CatalogError(
                f"archive would unpack to {total / 1e6:.0f} MB; the limit is {limits.max_total_bytes / 1e6:.0f} MB"
            )
        for info in infos:
            _check_entry(info, limits)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        for info in infos:
            target = (root / info.filename).resolve()
            if root not in target.parents and target != root:
                raise CatalogError(f"archive entry {info.filename!r} points outside the catalog folder")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as fin, open(target, "wb") as fout:
                shutil.copyfileobj(fin, fout, length=1 << 20)
    return dest


ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".zst", ".7z", ".rar", ".jar")


def _check_entry(info: zipfile.ZipInfo, limits: Limits) -> None:
    name = info.filename
    if not info.is_dir() and name.lower().endswith(ARCHIVE_SUFFIXES):
        raise CatalogError(f"archive entry {name!r} is itself an archive; nested archives are not unpacked: "
                           "put the catalog's files in one .zip")
    if name.startswith(("/", "\\")) or ".." in Path(name.replace("\\", "/")).parts or (len(name) > 1 and name[1] == ":"):
        raise CatalogError(f"archive entry {name!r} has an unsafe path (absolute or '..')")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise CatalogError(f"archive entry {name!r} is a symbolic link; links are not allowed")
    if info.compress_size and info.file_size / info.compress_size > limits.max_ratio and info.file_size > 1 << 20:
        raise CatalogError(
            f"archive entry {name!r} expands {info.file_size / info.compress_size:.0f}x; looks like a zip bomb"
        )


def parse_catalog_csv(path: Path, *, max_items: int = Limits.max_items) -> Catalog:
    """Parse catalog.csv; media paths resolve relative to it and must stay inside its folder."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc}") from None
    problems: list[Problem] = []
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"")
        problems.append(Problem("*", "file", "NUL bytes removed from catalog.csv"))
    text = raw.decode("utf-8-sig", errors="replace")
    rows = _read_rows(text, path.name)
    if len(rows) - 1 > max_items:
        raise CatalogError(f"{path.name} has {len(rows) - 1:,} rows; the limit is {max_items:,} items per catalog")
    header = [h.strip().lower() for h in rows[0]]
    if "id" not in header:
        raise CatalogError(
            f"{path.name} has no 'id' column; found columns: {', '.join(repr(h) for h in header) or 'none'}; "
            f"expected {', '.join(COLUMNS)}"
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.append(Problem("*", "file", f"duplicated columns {dupes}: the first of each is used"))
    root = path.parent.resolve()
    items: list[Item] = []
    seen: set[str] = set()
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        record: dict[str, str] = {}
        for name, value in zip(header, row):
            record.setdefault(name, value)
        item, item_problems = _parse_row(record, root, line_no, seen)
        problems.extend(item_problems)
        if item is not None:
            seen.add(item.id)
            items.append(item)
    return Catalog(root=root, items=tuple(items), problems=tuple(problems))


def _read_rows(text: str, name: str) -> list[list[str]]:
    csv.field_size_limit(16 * 1024 * 1024)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise CatalogError(f"{name} is not a readable CSV: {exc}") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise CatalogError(f"{name} is empty: expected a header row with {', '.join(COLUMNS)}")
    return rows


def _parse_row(record: dict[str, str], root: Path, line_no: int, seen: set[str]) -> tuple[Item | None, list[Problem]]:
    problems: list[Problem] = []
    item_id = record.get("id", "").strip()
    if not item_id:
        return None, [Problem(f"line {line_no}", "row", "empty id: row skipped")]
    if len(item_id) > MAX_ID_CHARS:
        return None, [Problem(item_id[:40] + "...", "row", f"id longer than {MAX_ID_CHARS} characters: row skipped")]
    if item_id in seen:
        return None, [Problem(item_id, "row", f"duplicate id (line {line_no}): row skipped, first kept")]
    texts = {}
    for col in ("title", "description"):
        value = record.get(col, "") or ""
        if "\ufffd" in value:
            problems.append(Problem(item_id, "text", f"{col} is not valid UTF-8; bad bytes replaced"))
        if len(value) > MAX_TEXT_CHARS:
            problems.append(Problem(item_id, "text", f"{col} truncated to {MAX_TEXT_CHARS} characters"))
            value = value[:MAX_TEXT_CHARS]
        texts[col] = value.strip()
    image = _media_path(record.get("image", ""), root, IMAGE_EXTS, item_id, "image", problems)
    audio = _media_path(record.get("audio", ""), root, AUDIO_EXTS, item_id, "audio", problems)
    video = _media_path(record.get("video", ""), root, VIDEO_EXTS, item_id, "video", problems)
    tags = tuple(t.strip() for t in (record.get("tags", "") or "").replace("|", ";").split(";") if t.strip())
    meta = {k: v for k, v in record.items() if k not in COLUMNS and k}
    item = Item(item_id, texts["title"], texts["description"], tags, image, audio, meta, video)
    if not item.text and image is None and audio is None and video is None:
        problems.append(Problem(item_id, "item", "no text, image, audio or video: item skipped"))
        return None, problems
    return item, problems


def _media_path(
    value: str, root: Path, exts: frozenset[str], item_id: str, modality: str, problems: list[Problem]
) -> Path | None:
    value = (value or "").strip()
    if not value:
        return None
    rel = Path(value.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts:
        problems.append(Problem(item_id, modality, f"path {value!r} must be relative and inside the catalog"))
        return None
    path = (root / rel).resolve()
    if root not in path.parents:
        problems.append(Problem(item_id, modality, f"path {value!r} leaves the catalog folder"))
        return None
    if path.suffix.lower() not in exts:
        problems.append(Problem(item_id, modality, f"{rel.name}: unsupported type; use {', '.join(sorted(exts))}"))
        return None
    if not path.is_file():
        problems.append(Problem(item_id, modality, f"file {value!r} not found"))
        return None
    if os.path.getsize(path) == 0:
        problems.append(Problem(item_id, modality, f"file {value!r} is empty"))
        return None
    return path


def category_of(item: dict) -> str:
    """An item's category: metadata 'category', else its first tag, else '(none)'."""
    meta = item.get("metadata") or {}
    cat = str(meta.get("category") or "").strip()
    if cat:
        return cat
    tags = item.get("tags") or []
    return str(tags[0]) if tags else "(none)"
