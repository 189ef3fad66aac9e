"""Retrieval: query vectors -> candidate rows with exact per-modality similarities -> fused top-K.

A query is answered in two steps so that moving a weight is cheap:
`Retriever.candidates` scans (or asks the ANN index) once per query and keeps the exact
similarities (c, M); `rank` fuses them under any weights/strategy and takes the top K.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Mapping, Protocol

import numpy as np

from mmrec_core.errors import QueryError, StoreError
from mmrec_core.retrieval._fusion import MODALITIES, Weights, get_strategy, top_k
from mmrec_core.retrieval._index import AnnIndex, IndexConfig

_POOL = ThreadPoolExecutor(max_workers=len(MODALITIES), thread_name_prefix="mmrec-ann")


@dataclass(frozen=True)
class QueryVectors:
    """One float32 (d_m,) L2-normalised vector per modality the query has (None = absent).

    Text and image share one space: a text or image query sets both `text` and `image`, to be
    compared with the items' text and image vectors respectively. `audio` compares with audio.
    """

    text: np.ndarray | None = None
    image: np.ndarray | None = None
    audio: np.ndarray | None = None
    exclude: frozenset[int] = frozenset()  # rows never returned (seed items, disliked items)

    def get(self, modality: str) -> np.ndarray | None:
        return getattr(self, modality)

    @property
    def image_space(self) -> np.ndarray | None:
        """The vector to compare with pictures and video frames: the image one, else the text one (one space)."""
        return self.image if self.image is not None else self.text

    @property
    def is_empty(self) -> bool:
        return all(self.get(m) is None for m in MODALITIES)


@dataclass(frozen=True)
class Candidates:
    """Exact similarities of candidate rows: rows (c,), sims (c, M) float32, avail (c, M) bool.

    sims are zero wherever avail is False (the fusion hot path relies on it).
    """

    rows: np.ndarray
    sims: np.ndarray
    avail: np.ndarray
    exclude: frozenset[int] = frozenset()
    exhaustive: bool = True
    query: QueryVectors | None = field(default=None, repr=False, compare=False)  # what they answer (to explain hits)


@dataclass(frozen=True)
class Ranking:
    """Top-K by fused score: rows (k,), scores (k,), contributions (k, M) summing to scores."""

    rows: np.ndarray
    scores: np.ndarray
    contributions: np.ndarray
    strategy: str
    weights: Weights
    params: Mapping[str, float] = field(default_factory=dict)


def rank(
    cands: Candidates, weights: Weights, *, strategy: str = "weighted", k: int = 10, **params: float
) -> Ranking:
    """Fuse the candidates' similarities and keep the k best valid, not-excluded rows."""
    fused = get_strategy(strategy)(cands.sims, cands.avail, weights.as_array(), **params)
    valid = fused.valid
    if cands.exclude:
        valid = valid & ~np.isin(cands.rows, np.fromiter(cands.exclude, dtype=np.int64))
    best = top_k(fused.scores, valid, k)
    return Ranking(
        rows=cands.rows[best],
        scores=fused.scores[best].astype(np.float32),
        contributions=fused.contributions_of(best).astype(np.float32),
        strategy=strategy,
        weights=weights,
        params=dict(params),
    )


class CandidateSource(Protocol):
    """An index backend's read side (see _backends.py): candidate rows per modality, never scores."""

    def propose(self, queries: Mapping[str, np.ndarray], depth: int) -> Mapping[str, np.ndarray]:
        """For float32 (d_m,) queries by modality, up to `depth` int64 rows per modality (best first)."""
        ...


PRESENCE_CHUNK = 65_536


def presence(embeddings: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n, M) bool: row i has modality m (its vector is not the zero row), read in blocks of rows."""
    n = next(iter(embeddings.values())).shape[0]
    out = np.zeros((n, len(MODALITIES)), bool)
    for j, m in enumerate(MODALITIES):
        e = embeddings[m]
        if e.shape[1]:
            for lo in range(0, n, PRESENCE_CHUNK):
                block = np.asarray(e[lo:lo + PRESENCE_CHUNK], dtype=np.float32)
                out[lo:lo + len(block), j] = np.einsum("ij,ij->i", block, block) > 0.25
    return out


class Retriever:
    """Holds the per-modality embeddings (n, d_m) and their ANN indexes; answers candidates().

    Embeddings may be float16 or float32, memory-mapped: candidates are rescored exactly from them
    (float16 rows are widened to float32 first). Modalities scanned in full (flat) keep a float32 copy.
    `present` (n, M) says which rows have which modality (False also for removed rows).
    Candidates come from the FAISS indexes in `ann` (flat modalities: every row), or from `source`
    (another backend, e.g. Milvus) when one is given; rescoring and fusion are the same for both.
    """

    def __init__(
        self,
        embeddings: Mapping[str, np.ndarray],
        *,
        config: IndexConfig = IndexConfig(),
        ann: Mapping[str, AnnIndex] | None = None,
        present: np.ndarray | None = None,
        source: CandidateSource | None = None,
    ) -> None:
        sizes = {m: e.shape[0] for m, e in embeddings.items()}
        if set(embeddings) != set(MODALITIES) or len(set(sizes.values())) != 1:
            raise StoreError(f"need embeddings for {MODALITIES} with one row count each, got {sizes}")
        self.embeddings = dict(embeddings)
        self.n = next(iter(sizes.values()))
        self.config = config
        self.present = presence(self.embeddings) if present is None else np.asarray(present, bool)
        if self.present.shape != (self.n, len(MODALITIES)):
            raise StoreError(f"present mask {self.present.shape} does not match {self.n} rows")
        self._dense: dict[str, np.ndarray] = {}
        self.kinds = {m: config.resolve(int(self.present[:, j].sum())) for j, m in enumerate(MODALITIES)}
        self.ann: dict[str, AnnIndex] = dict(ann or {})
        self.source = source
        self._build_lock = threading.Lock()

    def build_ann(self) -> dict[str, AnnIndex]:
        """Build the ANN index of every modality whose kind is not flat (and has rows)."""
        with self._build_lock:  # sessions searching at once build a missing index once, not once each
            todo = [m for j, m in enumerate(MODALITIES)
                    if self.kinds[m] != "flat" and m not in self.ann and self.present[:, j].any()]
            # FAISS releases the GIL: the modalities build side by side (one thread each)
            built = _POOL.map(lambda m: AnnIndex.build(self.embeddings[m], np.flatnonzero(self.present[:, MODALITIES.index(m)]),
                                                       self.kinds[m], self.config), todo)
            self.ann.update(zip(todo, built))
        return self.ann

    @property
    def exhaustive(self) -> bool:
        if self.source is not None:
            return False
        return all(self.kinds[m] == "flat" for m in MODALITIES if self.present[:, MODALITIES.index(m)].any())

    def candidates(self, query: QueryVectors, *, depth: int | None = None) -> Candidates:
        """Exact similarities for every row (flat) or for the union of ANN candidates."""
        if query.is_empty:
            raise QueryError("the query is empty: give text, an image, an audio clip or items")
        qs = {m: self._check(m, query.get(m)) for m in MODALITIES}
        if self.exhaustive:
            rows = np.arange(self.n, dtype=np.int64)
        else:
            rows = self._ann_rows(qs, depth or self.config.depth)
        sims = np.zeros((rows.size, len(MODALITIES)), dtype=np.float32)
        avail = np.zeros_like(sims, dtype=bool)
        for j, m in enumerate(MODALITIES):
            if qs[m] is None:
                continue
            if rows.size == self.n:
                sims[:, j] = self._full(m) @ qs[m]
            else:
                sims[:, j] = np.asarray(self.embeddings[m][rows], dtype=np.float32) @ qs[m]
            avail[:, j] = self.present[rows, j]
        return Candidates(rows, sims, avail, query.exclude, exhaustive=self.exhaustive, query=query)

    def _full(self, m: str) -> np.ndarray:
        """The whole float32 matrix of a modality (a copy, made once, when it is stored as float16)."""
        emb = self.embeddings[m]
        if emb.dtype == np.float32:
            return emb
        if m not in self._dense:
            with self._build_lock:
                self._dense.setdefault(m, np.asarray(emb, dtype=np.float32))
        return self._dense[m]

    def _check(self, modality: str, vec: np.ndarray | None) -> np.ndarray | None:
        if vec is None:
            return None
        d = self.embeddings[modality].shape[1]
        vec = np.asarray(vec, dtype=np.float32).reshape(-1)
        if vec.shape != (d,):
            raise QueryError(f"{modality} query has dimension {vec.shape[0]}; this store's {modality} dimension is {d}")
        return vec

    def _ann_rows(self, qs: Mapping[str, np.ndarray | None], depth: int) -> np.ndarray:
        if self.source is not None:
            return self._source_rows(qs, depth)
        found: list[np.ndarray] = []
        searches = []
        for j, m in enumerate(MODALITIES):
            q = qs[m]
            if q is None or not self.present[:, j].any():
                continue
            if self.kinds[m] == "flat":
                found.append(np.flatnonzero(self.present[:, j]))
                continue
            if m not in self.ann:
                self.build_ann()
            searches.append((self.ann[m], q[None, :]))
        # FAISS releases the GIL: the per-modality searches run side by side
        found.extend(ids[0] for ids in _POOL.map(lambda s: s[0].search(s[1], depth), searches))
        rows = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
        return rows[rows >= 0]


    def _source_rows(self, qs: Mapping[str, np.ndarray | None], depth: int) -> np.ndarray:
        asked = {m: q for m, q in qs.items() if q is not None and self.present[:, MODALITIES.index(m)].any()}
        found = [np.asarray(r, np.int64) for r in self.source.propose(asked, depth).values()] if asked else []
        rows = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
        rows = rows[(rows >= 0) & (rows < self.n)]
        # a row removed in this version (or in a newer one a backend already serves) is never a candidate
        return rows[self.present[rows].any(axis=1)]
