"""Per-modality vector indexes: an exact scan for small catalogs, FAISS IVF-PQ (compressed) above a threshold.

The index never sees weights: it proposes candidate rows per modality; fusion and exact
rescoring (from the store's vectors) happen on those rows, so a weight change never rebuilds anything.
`ivfpq` holds 4-bit product-quantised codes (1/32 of float32) and is only a
candidate generator; `ivf` (IVF-Flat, a full float32 copy) and `hnsw` stay readable for older stores.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from mmrec_core.errors import MMRecError, UnknownNameError

INDEX_KINDS = ("auto", "flat", "ivfpq", "ivf", "hnsw")
BUILD_CHUNK = 65_536  # rows converted to float32 at a time while an index is filled


@dataclass(frozen=True)
class IndexConfig:
    """How to index: `auto` is exact (flat) up to `flat_max` rows, IVF-PQ above."""

    kind: str = "auto"
    flat_max: int = 20_000
    # Cross-modal queries (text against images) are far from the vectors they search, so their best
    # matches spread over many IVF lists, and 4-bit codes rank them roughly. At a million items shaped like
    # the default encoder's real 384-d embeddings (bench/scale.py, bench/ann_curve.py; recall@10 against the
    # exact ranking, text -> image / text -> text+image / image -> image, median ms a query):
    #   384 lists, 1,024 candidates: 0.839 / 0.894 / 0.983, 10 ms    768, 2,048: 0.932 / 0.956 / 0.999, 18 ms
    #   512, 4,096: 0.972 / 0.979 / 0.993, 24 ms                     768, 4,096: 0.985 / 0.981 / 0.999, 26 ms
    # The default keeps every kind above 0.95 with a margin of 0.03.
    nprobe: int = 768
    ef_search: int = 96
    depth: int = 4096  # candidates per modality for ANN, each rescored exactly

    SEARCH_PARAMS = ("nprobe", "ef_search", "depth")

    @classmethod
    def stored(cls, recorded: Mapping[str, Any]) -> "IndexConfig":
        """The config a store recorded for building its indexes, searched with this version's search parameters
        (they are no property of the index files: a store written with older ones gets today's recall)."""
        return replace(cls(**recorded), **{k: getattr(cls(), k) for k in cls.SEARCH_PARAMS})

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise UnknownNameError(f"unknown index kind {self.kind!r}. Available: {', '.join(INDEX_KINDS)}")
        if self.depth < 1 or self.nprobe < 1 or self.ef_search < 1 or self.flat_max < 0:
            raise MMRecError(f"index parameters must be positive: {self}")

    def resolve(self, n_rows: int) -> str:
        """The concrete kind for a modality with n_rows vectors."""
        if self.kind != "auto":
            return self.kind
        return "flat" if n_rows <= self.flat_max else "ivfpq"


def _faiss():
    """FAISS, with one OpenMP thread: mmrec runs the modalities' searches and builds side by side in its own
    threads, and OpenMP's spinning threads on a busy 2-core machine made one 21k-row build 2.6x slower (18 s vs 7 s)."""
    import faiss

    if faiss.omp_get_max_threads() != 1:
        faiss.omp_set_num_threads(1)
    return faiss


def ivf_lists(n_rows: int, *, most: int = 4096) -> int:
    """IVF list count: a power of two near 4 sqrt(n), at least 16, at most `most`."""
    return int(min(most, max(16, 2 ** round(np.log2(4 * max(n_rows, 1) ** 0.5)))))


PQ_LISTS = 1024  # IVF-PQ lists at most: scanning 4-bit codes is cheap, so fewer, longer lists cost little at query
PQ_TRAIN_PER_LIST = 32  # k-means sample per list (FAISS's own floor is 39; 32 keeps a million-row build in minutes)
PQ_TRAIN_ITER = 12


def pq_subquantizers(d: int) -> int | None:
    """4-bit sub-quantizers for d dimensions: the most that divide d, are even, and are at most d/4 (d/8 bytes a
    vector); None when d has no such divisor of at least d/16 (then the codes are 4-bit scalar, see codes_spec)."""
    for m in range(max(2, d // 4), max(1, d // 16) - 1, -1):
        if d % m == 0 and m % 2 == 0:
            return m
    return None


def codes_spec(d: int) -> str:
    """The FAISS code part of an IVF-PQ index for d dimensions: fast-scan PQ, or SQ4 where PQ cannot split d."""
    m = pq_subquantizers(d)
    return f"PQ{m}x4fs" if m else "SQ4"


def chunks(emb: np.ndarray, rows: np.ndarray, size: int = BUILD_CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(float32 vectors, int64 row ids) in blocks of `size` rows: never a float32 copy of the whole matrix."""
    for start in range(0, len(rows), size):
        part = rows[start:start + size]
        yield np.ascontiguousarray(emb[part], dtype=np.float32), part.astype(np.int64)


class AnnIndex:
    """A FAISS inner-product index over the rows that have a modality; ids are row indices."""

    def __init__(self, faiss_index: "faiss.Index", kind: str, config: IndexConfig) -> None:
        self.faiss_index = faiss_index
        self.kind = kind
        self.reference_error = 0.0  # coarse error of held-out rows when the index was trained (set by build)
        self.set_params(config)

    def set_params(self, config: IndexConfig) -> None:
        faiss = _faiss()

        if self.kind in ("ivf", "ivfpq"):
            faiss.extract_index_ivf(self.faiss_index).nprobe = config.nprobe
        elif self.kind == "hnsw":
            faiss.downcast_index(self.faiss_index.index).hnsw.efSearch = config.ef_search

    @classmethod
    def build(cls, emb: np.ndarray, rows: np.ndarray, kind: str, config: IndexConfig, *, seed: int = 0) -> "AnnIndex":
        """Build over emb[rows] (float32 or float16 (n, d), rows L2-normalised), trained on a sample."""
        faiss = _faiss()

        d = emb.shape[1]
        if kind in ("ivf", "ivfpq"):
            nlist = ivf_lists(len(rows)) if kind == "ivf" else ivf_lists(len(rows), most=PQ_LISTS)
            spec = f"IVF{nlist},Flat" if kind == "ivf" else f"IVF{nlist},{codes_spec(d)}"
            index = faiss.index_factory(d, spec, faiss.METRIC_INNER_PRODUCT)
            per_list = 64 if kind == "ivf" else PQ_TRAIN_PER_LIST
            if kind == "ivfpq":
                faiss.extract_index_ivf(index).cp.niter = PQ_TRAIN_ITER
                faiss.extract_index_ivf(index).cp.max_points_per_centroid = per_list
            rng = np.random.default_rng(seed)
            sample = np.sort(rng.choice(len(rows), size=min(len(rows), nlist * per_list), replace=False))
            index.train(np.ascontiguousarray(emb[rows[sample]], dtype=np.float32))
            # the drift reference: rows k-means did not see sit farther from their centroids than those it did
            unseen = np.setdiff1d(np.arange(len(rows)), sample)
            probe = unseen if len(unseen) >= 256 else np.arange(len(rows))
            probe = np.sort(rng.choice(probe, size=min(len(probe), 4096), replace=False))
        elif kind == "hnsw":
            index = faiss.IndexIDMap(faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT))
        else:
            raise UnknownNameError(f"not an ANN index kind: {kind!r}. Available: ivfpq, ivf, hnsw")
        ann = cls(index, kind, config)
        if kind in ("ivf", "ivfpq"):
            ann.reference_error = ann.coarse_error(np.asarray(emb[rows[probe]], dtype=np.float32))
        ann.add(emb, rows)
        return ann

    def add(self, emb: np.ndarray, rows: np.ndarray) -> None:
        """Add emb[rows] under their row ids; a trained IVF index is not retrained."""
        for data, ids in chunks(emb, rows):
            self.faiss_index.add_with_ids(data, ids)

    def remove(self, rows: np.ndarray) -> int:
        """Drop these row ids; returns how many were there."""
        faiss = _faiss()

        if not len(rows):
            return 0
        return int(self.faiss_index.remove_ids(faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64))))

    @property
    def size(self) -> int:
        return int(self.faiss_index.ntotal)

    def coarse_error(self, vectors: np.ndarray) -> float:
        """Mean squared distance of float32 rows (n, d) to their nearest IVF centroid (0.0 for other kinds).

        Recorded at training and compared on each add: new vectors far from every centroid mean the
        index has drifted from the data and is retrained.
        """
        faiss = _faiss()

        if self.kind not in ("ivf", "ivfpq") or not len(vectors):
            return 0.0
        ivf = faiss.extract_index_ivf(self.faiss_index)
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        sims, lists = ivf.quantizer.search(x, 1)
        centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
        norms = np.einsum("ij,ij->i", centroids, centroids)[lists[:, 0]]
        sq = np.einsum("ij,ij->i", x, x)
        return float(np.mean(np.maximum(0.0, sq - 2.0 * sims[:, 0] + norms)))  # |x - c|^2 to the list it joins

    def search(self, queries: np.ndarray, depth: int) -> np.ndarray:
        """Candidate rows (q, depth) int64 for float32 queries (q, d); -1 pads short lists."""
        _, ids = self.faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32), depth)
        return ids

    def save(self, path: Path) -> None:
        faiss = _faiss()

        faiss.write_index(self.faiss_index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str, config: IndexConfig) -> "AnnIndex":
        faiss = _faiss()

        return cls(faiss.read_index(str(path)), kind, config)
