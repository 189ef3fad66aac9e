"""Queries against a store: text, an image, an audio clip, catalog items, or any mix -> ranked hits.

`Engine` owns a store and (lazily) its encoders; models load once per Engine, never per query.
Indices stay inside (rows); `Engine.hits` maps rows to item ids at the edge.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mmrec_core.encoders import EncoderSet, get_encoders
from mmrec_core.errors import MediaError, QueryError
from mmrec_core.fusion import MODALITIES, Weights
from mmrec_core.media import load_audio, load_image
from mmrec_core.search import Candidates, QueryVectors, Ranking, rank
from mmrec_core.store import Store
from mmrec_core.vectors import l2_normalize


@dataclass(frozen=True)
class Query:
    """What a user asks with: any mix of text, image, audio (path or bytes) and seed item ids."""

    text: str = ""
    image: bytes | Path | None = None
    audio: bytes | Path | None = None
    items: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.text.strip() and self.image is None and self.audio is None and not self.items


@dataclass(frozen=True)
class Hit:
    """One result at the edge: item id, fused score, per-modality contributions, the item record."""

    id: str
    score: float
    contributions: dict[str, float]
    item: dict[str, Any] = field(repr=False, default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "score": round(self.score, 6),
                "contributions": {m: round(v, 6) for m, v in self.contributions.items()}}


class Engine:
    """Answers queries on one store; encoders load on first need and are shared thereafter."""

    def __init__(self, store: Store, encoders: EncoderSet | None = None) -> None:
        self.store = store
        self._encoders = encoders
        self._lock = threading.Lock()

    @property
    def encoders(self) -> EncoderSet:
        with self._lock:
            if self._encoders is None:
                spec = self.store.manifest["encoder"].get("spec") or self.store.encoder
                self._encoders = get_encoders(spec)
            return self._encoders

    def vectors(self, query: Query, *, exclude: Sequence[str] = ()) -> QueryVectors:
        """Per-modality query vectors; seed items are excluded from the results."""
        if query.is_empty:
            raise QueryError("the query is empty: type text, upload an image or a clip, or pick items")
        shared: list[np.ndarray] = []
        if query.text.strip():
            shared.append(self.encoders.text.encode([query.text.strip()])[0])
        if query.image is not None:
            try:
                shared.append(self.encoders.image.encode([load_image(query.image)])[0])
            except MediaError as exc:
                raise QueryError(f"query image: {exc}") from None
        audio: list[np.ndarray] = []
        if query.audio is not None:
            try:
                raw = self.encoders.audio.features([load_audio(query.audio, sr=self.encoders.audio.sample_rate)])
            except MediaError as exc:
                raise QueryError(f"query audio: {exc}") from None
            audio.append(self.store.scaler.apply(raw)[0])
        rows = [self.store.row_of(i) for i in query.items]
        emb = self.store.embeddings
        per = {"text": list(shared), "image": list(shared), "audio": audio}
        for r in rows:
            t, im, a = (np.asarray(emb[m][r]) for m in MODALITIES)
            has_t, has_i = t.any(), im.any()
            per["text"].append(t if has_t else im)
            per["image"].append(im if has_i else t)
            if a.any():
                per["audio"].append(a)
        vecs = {m: _mean(per[m]) for m in MODALITIES}
        excluded = frozenset(rows) | frozenset(self.store.row_of(i) for i in exclude)
        return QueryVectors(**vecs, exclude=excluded)

    def candidates(self, query: Query | QueryVectors) -> Candidates:
        qv = self.vectors(query) if isinstance(query, Query) else query
        if qv.is_empty:
            raise QueryError("the query has no vector this store can compare (e.g. audio-only seeds in a store without audio)")
        return self.store.retriever.candidates(qv)

    def search(self, query: Query, weights: Weights, *, strategy: str = "weighted", k: int = 10,
               **params: float) -> list[Hit]:
        return self.hits(rank(self.candidates(query), weights, strategy=strategy, k=k, **params))

    def hits(self, ranking: Ranking) -> list[Hit]:
        items = self.store.items
        return [
            Hit(items[r]["id"], float(s), {m: float(c[j]) for j, m in enumerate(MODALITIES)}, items[r])
            for r, s, c in zip(ranking.rows, ranking.scores, ranking.contributions)
        ]


def _mean(vectors: list[np.ndarray]) -> np.ndarray | None:
    kept = [v for v in vectors if v is not None and v.any()]
    if not kept:
        return None
    return l2_normalize(np.mean(np.stack(kept), axis=0)[None, :])[0]
