"""Per-modality vector indexes: an exact scan for small catalogs, FAISS IVF or HNSW above a threshold.

The index never sees weights: it proposes candidate rows per modality; fusion and exact
rescoring happen on those rows, so a weight change never rebuilds anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmrec_core.errors import MMRecError, UnknownNameError

INDEX_KINDS = ("auto", "flat", "ivf", "hnsw")


@dataclass(frozen=True)
class IndexConfig:
    """How to index: `auto` is exact (flat) up to `flat_max` rows, IVF above."""

    kind: str = "auto"
    flat_max: int = 20_000
    nprobe: int = 32
    ef_search: int = 96
    depth: int = 256  # candidates per modality for ANN

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise UnknownNameError(f"unknown index kind {self.kind!r}. Available: {', '.join(INDEX_KINDS)}")
        if self.depth < 1 or self.nprobe < 1 or self.ef_search < 1 or self.flat_max < 0:
            raise MMRecError(f"index parameters must be positive: {self}")

    def resolve(self, n_rows: int) -> str:
        """The concrete kind for a modality with n_rows vectors."""
        if self.kind != "auto":
            return self.kind
        return "flat" if n_rows <= self.flat_max else "ivf"


def ivf_lists(n_rows: int) -> int:
    """IVF list count: a power of two near 4 sqrt(n), at least 16, at most 4096."""
    return int(min(4096, max(16, 2 ** round(np.log2(4 * max(n_rows, 1) ** 0.5)))))


class AnnIndex:
    """A FAISS inner-product index over the rows that have a modality; ids are row indices."""

    def __init__(self, faiss_index: "faiss.Index", kind: str, config: IndexConfig) -> None:
        self.faiss_index = faiss_index
        self.kind = kind
        self.set_params(config)

    def set_params(self, config: IndexConfig) -> None:
        import faiss

        if self.kind == "ivf":
            faiss.extract_index_ivf(self.faiss_index).nprobe = config.nprobe
        elif self.kind == "hnsw":
            faiss.downcast_index(self.faiss_index.index).hnsw.efSearch = config.ef_search

    @classmethod
    def build(cls, emb: np.ndarray, rows: np.ndarray, kind: str, config: IndexConfig, *, seed: int = 0) -> "AnnIndex":
        """Build over emb[rows]; emb is float32 (n, d) L2-normalised."""
        import faiss

        d = emb.shape[1]
        data = np.ascontiguousarray(emb[rows], dtype=np.float32)
        ids = rows.astype(np.int64)
        if kind == "ivf":
            nlist = ivf_lists(len(rows))
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            sample = data[rng.choice(len(data), size=min(len(data), nlist * 64), replace=False)]
            index.train(sample)
            index.add_with_ids(data, ids)
        elif kind == "hnsw":
            index = faiss.IndexIDMap(faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT))
            index.add_with_ids(data, ids)
        else:
            raise UnknownNameError(f"not an ANN index kind: {kind!r}. Available: ivf, hnsw")
        return cls(index, kind, config)

    def search(self, queries: np.ndarray, depth: int) -> np.ndarray:
        """Candidate rows (q, depth) int64 for float32 queries (q, d); -1 pads short lists."""
        _, ids = self.faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32), depth)
        return ids

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.faiss_index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str, config: IndexConfig) -> "AnnIndex":
        import faiss

        return cls(faiss.read_index(str(path)), kind, config)
