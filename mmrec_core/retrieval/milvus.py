"""The Milvus index backend (pymilvus' MilvusClient): candidates per modality from a collection per store generation.

Collection `<collection>_<generation>` holds one row per store row: `row` (INT64 primary key = the store
row), `has_<modality>` (BOOL) and `<modality>` (FLOAT_VECTOR, zeros where missing) for each modality
with a dimension. A search per modality filters on `has_<modality> and row < n_rows`: a missing vector
(stored as zeros) is never proposed, and a reader of an older version never sees rows added after it.
Removed rows are deleted from the collection once the version without them is live. Milvus proposes
rows only; mmrec rescores them exactly (Milvus' fused scores cannot give per-modality contributions).

Milvus Lite (uri "lite": the folder STORE/milvus.db) lets one process hold a database. The process
holding it serves it to the others through Lite's in-process gRPC server and publishes the address in
STORE/milvus-lite.json; the dashboard and the CLI then share one database instead of corrupting it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from mmrec_core.errors import MMRecError, StoreError
from mmrec_core.retrieval._fusion import MODALITIES
from mmrec_core.retrieval._index import IndexConfig, ivf_lists

LITE_DIR = "milvus.db"
SERVE_FILE = "milvus-lite.json"
INDEX_TYPES = {"flat": "FLAT", "ivf": "IVF_FLAT", "ivfpq": "IVF_SQ8", "hnsw": "HNSW"}  # Lite has no IVF_PQ
INSERT_BATCH = 2_000  # rows per insert call (a few MB of float32 per gRPC message)
DELETE_BATCH = 10_000
MAX_LIMIT = 16_384  # Milvus' largest top-k

_CLIENTS: dict[str, Any] = {}
_LOCK = threading.Lock()
_POOL = ThreadPoolExecutor(max_workers=len(MODALITIES), thread_name_prefix="mmrec-milvus")


def require() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise MMRecError("the Milvus index backend needs pymilvus and milvus-lite: pip install 'mmrec[scale]' "
                         "(or pymilvus==3.0.2 milvus-lite==3.2.2)") from None
    return pymilvus


def client(store: Path, record: Mapping[str, Any]) -> Any:
    """A MilvusClient for a store's backend record (one per database per process)."""
    key = str((store / LITE_DIR).resolve()) if record["uri"] == "lite" else str(record["uri"])
    with _LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = _connect_lite(Path(key), store) if record["uri"] == "lite" else _connect(record["uri"])
        return _CLIENTS[key]


def forget(store: Path, record: Mapping[str, Any]) -> None:
    """Drop the cached client (after a failed call: the process serving a Lite database may have exited)."""
    key = str((store / LITE_DIR).resolve()) if record["uri"] == "lite" else str(record["uri"])
    with _LOCK:
        _CLIENTS.pop(key, None)


def _connect(uri: str) -> Any:
    try:
        return require().MilvusClient(uri=uri, timeout=10)
    except MMRecError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot reach the Milvus server at {uri}: {exc}") from None


def _connect_lite(db: Path, store: Path) -> Any:
    """Hold the Lite database and serve it, or connect to the process that holds it."""
    require()
    from milvus_lite.server_manager import server_manager_instance

    db.mkdir(parents=True, exist_ok=True)
    serve = store / SERVE_FILE
    if _lock_free(db / "LOCK"):
        with _quiet("milvus_lite.server_manager"):  # a lost race is handled below, not logged as a crash
            uri = server_manager_instance.start_and_get_uri(str(db))
        if uri:
            _publish(serve, uri)
            return _connect(uri)
    for _ in range(40):  # the holder may still be starting its server
        info = _read_serve(serve)
        if info and _alive(info["pid"]):  # another process, or this one (its server outlives a dropped client)
            with contextlib.suppress(StoreError):
                c = _connect(info["uri"])
                c.list_collections()
                return c
        time.sleep(0.25)
    raise StoreError(f"the Milvus Lite database {db} is held by another process that does not serve it "
                     f"(no live address in {serve}); close that process, or use a Milvus server (--index milvus://HOST:PORT)")


def _lock_free(lock: Path) -> bool:
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _publish(serve: Path, uri: str) -> None:
    tmp = serve.with_name(f".{serve.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "uri": uri}))
    os.replace(tmp, serve)
    atexit.register(_unpublish, serve)


def _unpublish(serve: Path) -> None:
    info = _read_serve(serve)
    if info and info["pid"] == os.getpid():
        with contextlib.suppress(OSError):
            serve.unlink()


def _read_serve(serve: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(serve.read_text())
        return {"pid": int(info["pid"]), "uri": str(info["uri"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


@contextlib.contextmanager
def _quiet(name: str):
    log = logging.getLogger(name)
    level, log.level = log.level, logging.CRITICAL
    try:
        yield
    finally:
        log.setLevel(level)


def _call(store: Path, record: Mapping[str, Any], fn: Callable[[Any], Any]) -> Any:
    """fn(client), reconnecting once if the connection broke; StoreError when Milvus refuses."""
    for attempt in (0, 1):
        try:
            return fn(client(store, record))
        except MMRecError:
            raise
        except Exception as exc:
            forget(store, record)
            if attempt:
                raise StoreError(f"Milvus ({record['uri']}): {exc}") from None


def collection_name(record: Mapping[str, Any], generation: str) -> str:
    return f"{record['collection']}_{generation}"


# ---------- writing ----------

def build(store: Path, record: Mapping[str, Any], generation: str, embeddings: Mapping[str, np.ndarray],
          present: np.ndarray, config: IndexConfig) -> dict[str, str]:
    """Create the generation's collection over every row; returns the Milvus index type per modality."""
    pm = require()
    name = collection_name(record, generation)
    kinds = {m: INDEX_TYPES[config.resolve(int(present[:, j].sum()))] for j, m in enumerate(MODALITIES)
             if embeddings[m].shape[1]}
    schema = pm.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", pm.DataType.INT64, is_primary=True)
    params = pm.MilvusClient.prepare_index_params()
    for j, m in enumerate(MODALITIES):
        if m not in kinds:
            continue
        schema.add_field(f"has_{m}", pm.DataType.BOOL)
        schema.add_field(m, pm.DataType.FLOAT_VECTOR, dim=int(embeddings[m].shape[1]))
        build_params = ({"nlist": ivf_lists(int(present[:, j].sum()))} if kinds[m].startswith("IVF")
                        else {"M": 32, "efConstruction": 128} if kinds[m] == "HNSW" else {})
        params.add_index(m, index_type=kinds[m], metric_type="IP", params=build_params)

    def create(c: Any) -> None:
        if c.has_collection(name):  # a killed writer's collection for a generation that never went live
            c.drop_collection(name)
        c.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")

    _call(store, record, create)
    insert(store, record, generation, embeddings, present, np.arange(present.shape[0], dtype=np.int64), kinds)
    _call(store, record, lambda c: c.flush(name))  # sealed and indexed once (Lite searches unflushed rows ~2x slower)
    return kinds


def insert(store: Path, record: Mapping[str, Any], generation: str, embeddings: Mapping[str, np.ndarray],
           present: np.ndarray, rows: np.ndarray, kinds: Mapping[str, str]) -> None:
    """Insert these store rows (an existing row of the same number is replaced first)."""
    name = collection_name(record, generation)
    for lo in range(0, len(rows), INSERT_BATCH):
        part = rows[lo:lo + INSERT_BATCH]
        vecs = {m: np.asarray(embeddings[m][part], dtype=np.float32) for m in kinds}
        data = [{"row": int(r), **{f"has_{m}": bool(present[r, MODALITIES.index(m)]) for m in kinds},
                 **{m: vecs[m][i] for m in kinds}} for i, r in enumerate(part)]
        _call(store, record, lambda c: c.insert(name, data))


def grow(store: Path, record: Mapping[str, Any], generation: str, embeddings: Mapping[str, np.ndarray],
         present: np.ndarray, new: np.ndarray, removed: Mapping[str, int], kinds: Mapping[str, str]) -> dict[str, str]:
    """Before a grown version is committed: cut rows a killed writer left past the live end, insert the new rows.

    present (rows, M) is the grown version's; removed counts, per modality, the rows `committed` will delete.
    """
    name = collection_name(record, generation)
    start = int(new[0]) if len(new) else present.shape[0]
    _call(store, record, lambda c: c.delete(name, filter=f"row >= {start}"))
    insert(store, record, generation, embeddings, present, new, kinds)
    return {m: f"+{int(present[new, MODALITIES.index(m)].sum())} -{removed.get(m, 0)} rows (milvus {kinds[m]})"
            for m in kinds}


def committed(store: Path, record: Mapping[str, Any], generation: str, gone: np.ndarray) -> None:
    """After the version without them is live: delete removed rows (a crash before this leaves rows that mmrec,
    which knows them dead, never proposes)."""
    name = collection_name(record, generation)
    for lo in range(0, len(gone), DELETE_BATCH):
        ids = [int(r) for r in gone[lo:lo + DELETE_BATCH]]
        _call(store, record, lambda c: c.delete(name, ids=ids))


def drop(store: Path, record: Mapping[str, Any], generation: str) -> None:
    """Drop a generation's collection (no kept version reads it)."""
    name = collection_name(record, generation)
    _call(store, record, lambda c: c.drop_collection(name) if c.has_collection(name) else None)


# ---------- reading ----------

class MilvusSource:
    """A store version's candidate source: one Milvus search per modality, rows below the version's row count."""

    def __init__(self, store: Path, record: Mapping[str, Any], manifest: Mapping[str, Any]) -> None:
        self.store, self.record = store, dict(record)
        self.name = collection_name(record, str(manifest["data"]))
        self.n_rows = int(manifest["n_rows"])
        self.kinds = dict(manifest["index"]["kinds"])
        self.config = IndexConfig.stored(manifest["index"]["config"])
        self._loaded: Any = None  # the client that loaded the collection
        self._loading = threading.Lock()

    def _search_params(self, m: str, depth: int) -> dict[str, Any]:
        kind = self.kinds[m]
        extra = ({"nprobe": self.config.nprobe} if kind.startswith("IVF")
                 else {"ef": max(self.config.ef_search, depth)} if kind == "HNSW" else {})
        return {"metric_type": "IP", "params": extra}

    def _load(self, c: Any) -> None:
        """Load the collection once per client, from one thread: a collection reopened after a restart is
        'released' until loaded, and Lite opens a collection without a lock, so two first requests at once can
        leave it open twice, one copy still loading."""
        with self._loading:
            if self._loaded is not c:
                c.load_collection(self.name)
                self._loaded = c

    def _search(self, c: Any, m: str, q: np.ndarray, depth: int) -> np.ndarray:
        self._load(c)
        hits = c.search(self.name, data=[np.asarray(q, np.float32)], anns_field=m, limit=min(depth, MAX_LIMIT),
                        filter=f"has_{m} and row < {self.n_rows}", search_params=self._search_params(m, depth),
                        output_fields=["row"], consistency_level="Strong")
        return np.fromiter((h["row"] for h in hits[0]), np.int64)

    def propose(self, queries: Mapping[str, np.ndarray], depth: int) -> dict[str, np.ndarray]:
        asked = [m for m in queries if m in self.kinds]
        if asked:
            _call(self.store, self.record, self._load)  # before the searches run side by side

        def one(m: str) -> np.ndarray:
            return _call(self.store, self.record, lambda c: self._search(c, m, queries[m], depth))

        return dict(zip(asked, _POOL.map(one, asked)))
