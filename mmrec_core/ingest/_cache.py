"""Embedding cache keyed by (encoder name, content hash): re-ingesting unchanged media costs ~0.

A writable SQLite file plus optional read-only seed files (.npz) shipped with a catalog, so
the built-in demo ingests without running the models.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np


def content_key(data: bytes | str) -> str:
    """sha256 hex of the bytes (text is UTF-8 encoded)."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


class EmbeddingCache:
    """get_many/put_many of float32 vectors by (encoder, key)."""

    def __init__(self, path: Path | None, *, seeds: Sequence[Path] = ()) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seed: dict[tuple[str, str], np.ndarray] = {}
        for seed in seeds:
            self._seed.update(load_seed(seed))
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS emb (encoder TEXT, key TEXT, vec BLOB, PRIMARY KEY (encoder, key))"
            )
            self._db.commit()

    def get_many(self, encoder: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `keys` (missing keys are absent from the result)."""
        found: dict[str, np.ndarray] = {}
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            vec = self._seed.get((encoder, key))
            if vec is not None:
                found[key] = vec
        rest = [k for k in wanted if k not in found]
        if self._db is None or not rest:
            return found
        with self._lock:
            for start in range(0, len(rest), 500):
                chunk = rest[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, vec FROM emb WHERE encoder = ? AND key IN ({marks})", (encoder, *chunk)
                ).fetchall()
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put_many(self, encoder: str, vectors: Mapping[str, np.ndarray]) -> None:
        if self._db is None or not vectors:
            return
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO emb VALUES (?, ?, ?)",
                [(encoder, k, np.asarray(v, np.float32).tobytes()) for k, v in vectors.items()],
            )
            self._db.commit()

    def entries(self) -> dict[str, list[str]]:
        """{encoder: keys} of everything in the writable cache."""
        out: dict[str, list[str]] = {}
        if self._db is not None:
            with self._lock:
                for encoder, key in self._db.execute("SELECT encoder, key FROM emb"):
                    out.setdefault(encoder, []).append(key)
        return out

    def export_seed(self, path: Path, entries: Mapping[str, Sequence[str]]) -> int:
        """Write the vectors of `entries` {encoder: keys} to a seed .npz (float16); returns the count."""
        arrays: dict[str, np.ndarray] = {}
        names = []
        count = 0
        for i, (encoder, keys) in enumerate(sorted(entries.items())):
            got = self.get_many(encoder, keys)
            ks = sorted(got)
            names.append(encoder)
            arrays[f"keys{i}"] = np.array(ks)
            arrays[f"vecs{i}"] = np.stack([got[k] for k in ks]).astype(np.float16) if ks else np.zeros((0, 1), np.float16)
            count += len(ks)
        arrays["encoders"] = np.array([json.dumps(names)])
        np.savez_compressed(path, **arrays)
        return count


def load_seed(path: Path) -> dict[tuple[str, str], np.ndarray]:
    """{(encoder, key): float32 vector} from a seed .npz written by export_seed."""
    out: dict[tuple[str, str], np.ndarray] = {}
    with np.load(path, allow_pickle=False) as data:
        names = json.loads(str(data["encoders"][0]))
        for i, encoder in enumerate(names):
            for key, vec in zip(data[f"keys{i}"], data[f"vecs{i}"]):
                out[(encoder, str(key))] = vec.astype(np.float32)
    return out
