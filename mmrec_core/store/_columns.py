"""Append-only column files of a store generation: raw row arrays, and item records as JSON lines.

A generation folder (STORE/data/gNNNNNN/) holds one file per column. Files only ever grow: a store
version names how many rows (and bytes) of each it sees, so a version written later can append rows
while older versions, and processes that still have them open, keep reading their own prefix. A write
that was killed leaves bytes past the live version's end; the next writer cuts them off first.
"""

from __future__ import annotations

import json
import mmap
import os
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Mapping, Sequence, overload

import numpy as np

from mmrec_core.errors import StoreError

WRITE_CHUNK = 65_536  # rows per write, so a million rows never need one big buffer


def vector_file(gen: Path, modality: str) -> Path:
    return gen / f"{modality}.f16"


def open_rows(file: Path, dtype: np.dtype | type, n: int, d: int | None = None) -> np.ndarray:
    """A read-only memory map of the first n rows of a raw column file: (n,) or (n, d)."""
    shape = (n,) if d is None else (n, d)
    if n == 0 or d == 0:
        return np.zeros(shape, dtype)
    need = n * (d or 1) * np.dtype(dtype).itemsize
    size = file.stat().st_size if file.is_file() else -1
    if size < need:
        raise StoreError(f"{file} holds {max(size, 0)} bytes, the store version needs {need}")
    return np.memmap(file, dtype=dtype, mode="r", shape=shape)


def append_rows(file: Path, rows: np.ndarray, *, keep_bytes: int, dtype: np.dtype | type) -> int:
    """Cut file to keep_bytes (what the live version sees), append rows as dtype, fsync; returns the new size."""
    with open(file, "r+b" if file.exists() else "w+b") as f:
        f.truncate(keep_bytes)
        f.seek(keep_bytes)
        for start in range(0, len(rows), WRITE_CHUNK):
            f.write(np.ascontiguousarray(rows[start:start + WRITE_CHUNK], dtype=dtype).tobytes())
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def append_records(gen: Path, items: Iterable[Mapping[str, Any]], *, keep: Mapping[str, int],
                   start_row: int) -> dict[str, int]:
    """Append ids (ids.jsonl), records (items.jsonl) and their row offsets (items.off), streaming.

    keep: the byte sizes the live version sees ({"ids": ..., "items": ...}); start_row: its row count.
    Returns the new sizes {"ids": bytes, "items": bytes}.
    """
    with open(gen / "ids.jsonl", "r+b" if (gen / "ids.jsonl").exists() else "w+b") as fi, \
            open(gen / "items.jsonl", "r+b" if (gen / "items.jsonl").exists() else "w+b") as fr, \
            open(gen / "items.off", "r+b" if (gen / "items.off").exists() else "w+b") as fo:
        for f, size in ((fi, keep["ids"]), (fr, keep["items"]), (fo, start_row * 8)):
            f.truncate(size)
            f.seek(size)
        pos, offsets, lines, names = keep["items"], [], [], []
        for rec in items:
            line = json.dumps(dict(rec), ensure_ascii=False).encode() + b"\n"
            offsets.append(pos)
            pos += len(line)
            lines.append(line)
            names.append(json.dumps(str(rec["id"]), ensure_ascii=False).encode() + b"\n")
            if len(lines) >= WRITE_CHUNK:
                _flush(fi, fr, fo, names, lines, offsets)
        _flush(fi, fr, fo, names, lines, offsets)
        for f in (fi, fr, fo):
            f.flush()
            os.fsync(f.fileno())
        return {"ids": fi.tell(), "items": fr.tell()}


def _flush(fi: BinaryIO, fr: BinaryIO, fo: BinaryIO, names: list[bytes], lines: list[bytes], offsets: list[int]) -> None:
    fi.write(b"".join(names))
    fr.write(b"".join(lines))
    fo.write(np.asarray(offsets, np.int64).tobytes())
    names.clear()
    lines.clear()
    offsets.clear()


def read_ids(gen: Path, n: int, n_bytes: int) -> list[str]:
    """The first n ids of a generation (one JSON string per line)."""
    with open(gen / "ids.jsonl", "rb") as f:
        data = f.read(n_bytes)
    ids = json.loads(b"[" + b",".join(data.splitlines()) + b"]") if n else []
    if len(ids) != n:
        raise StoreError(f"{gen / 'ids.jsonl'} holds {len(ids)} ids, the store version needs {n}")
    return ids


class ItemTable(Sequence[dict[str, Any]]):
    """Item records by row, read from items.jsonl on demand: a million items never sit in memory as dicts."""

    def __init__(self, file: Path, offsets: np.ndarray, end: int) -> None:
        self._offsets = offsets
        self._end = end
        self._map: mmap.mmap | None = None
        if len(offsets):
            with open(file, "rb") as f:
                self._map = mmap.mmap(f.fileno(), end, access=mmap.ACCESS_READ)

    def __len__(self) -> int:
        return len(self._offsets)

    @overload
    def __getitem__(self, row: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, row: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, row: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(row, slice):
            return [self[r] for r in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self) or self._map is None:
            raise IndexError(f"row {row} out of range for {len(self)} items")
        lo = int(self._offsets[row])
        hi = int(self._offsets[row + 1]) if row + 1 < len(self) else self._end
        return json.loads(self._map[lo:hi])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._map is None:
            return
        start = 0
        while start < self._end:
            stop = self._map.find(b"\n", start, self._end)
            stop = self._end if stop < 0 else stop
            yield json.loads(self._map[start:stop])
            start = stop + 1
