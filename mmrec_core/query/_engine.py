"""Queries against a store: text, an image, an audio clip, a video, catalog items, or any mix -> ranked hits.

`Engine` owns a store and (lazily) its encoders; models load once per Engine, never per query.
Indices stay inside (rows); `Engine.hits` maps rows to item ids at the edge.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mmrec_core.catalog import load_audio, load_image
from mmrec_core.catalog import video as vid
from mmrec_core.encoders import EncoderSet, get_encoders, spec_of_vectors
from mmrec_core.errors import MediaError, QueryError
from mmrec_core.retrieval import MODALITIES, Candidates, QueryVectors, Ranking, Weights, rank
from mmrec_core.store import Store
from mmrec_core.vectors import l2_normalize


@dataclass(frozen=True)
class Query:
    """What a user asks with: any mix of text, image, audio, video (path or bytes) and seed item ids.

    A video counts as its frames (pooled, against the items' images) plus its soundtrack (against audio).
    """

    text: str = ""
    image: bytes | Path | None = None
    audio: bytes | Path | None = None
    items: tuple[str, ...] = ()
    video: bytes | Path | None = None

    @property
    def is_empty(self) -> bool:
        return (not self.text.strip() and self.image is None and self.audio is None and self.video is None
                and not self.items)


@dataclass(frozen=True)
class FrameMatch:
    """The frame of a result's video closest to the query: its time in seconds and its cosine with the query."""

    time: float
    similarity: float


@dataclass(frozen=True)
class Hit:
    """One result at the edge: item id, fused score, per-modality contributions, the item record."""

    id: str
    score: float
    contributions: dict[str, float]
    item: dict[str, Any] = field(repr=False, default_factory=dict)
    frame: FrameMatch | None = None  # for a video item and a query with an image-space vector

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "score": round(self.score, 6),
                               "contributions": {m: round(v, 6) for m, v in self.contributions.items()}}
        if self.frame is not None:
            out["frame"] = {"time": round(self.frame.time, 3), "similarity": round(self.frame.similarity, 6)}
        return out


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
                self._encoders = get_encoders(spec_of_vectors(self.store.manifest["encoder"]))
            return self._encoders

    def reading(self, text: str) -> str | None:
        """How the store's text encoder reads a query text in another language (the offline default's routes,
        encoders._multilingual.reading), for the page to say; None for English or another encoder family."""
        if not self.encoders.text.name.startswith("aligned"):
            return None
        from mmrec_core.encoders import text_reading

        return text_reading(text)

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
        if query.video is not None:
            frames, soundtrack = self._video(query.video)
            shared.append(frames)
            if soundtrack is not None:
                audio.append(soundtrack)
        rows = [self.store.row_of(i) for i in query.items]
        per = {"text": list(shared), "image": list(shared), "audio": audio}
        for r in rows:
            t, im, a = (self.store.vectors(m, [r])[0] for m in MODALITIES)
            has_t, has_i = t.any(), im.any()
            per["text"].append(t if has_t else im)
            per["image"].append(im if has_i else t)
            if a.any():
                per["audio"].append(a)
        vecs = {m: _mean(per[m]) for m in MODALITIES}
        excluded = frozenset(rows) | frozenset(self.store.row_of(i) for i in exclude)
        return QueryVectors(**vecs, exclude=excluded)

    def _video(self, src: bytes | Path) -> tuple[np.ndarray, np.ndarray | None]:
        """A query clip's pooled frame vector (image space) and its soundtrack's audio vector (None if silent)."""
        try:
            clip = vid.load_video(src)
        except MediaError as exc:
            raise QueryError(f"query video: {exc}") from None
        vecs = self.encoders.image.encode(list(clip.frames))
        try:
            wave = vid.load_soundtrack(src, sr=self.encoders.audio.sample_rate)
        except MediaError:  # a silent clip queries with its frames alone
            return vid.pool(vecs), None
        return vid.pool(vecs), self.store.scaler.apply(self.encoders.audio.features([wave]))[0]

    def candidates(self, query: Query | QueryVectors) -> Candidates:
        qv = self.vectors(query) if isinstance(query, Query) else query
        if qv.is_empty:
            raise QueryError("the query has no vector this store can compare (e.g. audio-only seeds in a store without audio)")
        return self.store.retriever.candidates(qv)

    def search(self, query: Query, weights: Weights, *, strategy: str = "weighted", k: int = 10,
               **params: float) -> list[Hit]:
        qv = self.vectors(query)
        return self.hits(rank(self.candidates(qv), weights, strategy=strategy, k=k, **params), query=qv)

    def hits(self, ranking: Ranking, *, query: QueryVectors | None = None) -> list[Hit]:
        """Rows -> ids; with the query's vectors, each video result names its best-matching frame."""
        items, frames = self.store.items, self.store.frames
        probe = None if query is None else query.image_space
        out = []
        for r, s, c in zip(ranking.rows, ranking.scores, ranking.contributions):
            best = frames.best(int(r), probe) if probe is not None and len(frames) else None
            out.append(Hit(items[r]["id"], float(s), {m: float(c[j]) for j, m in enumerate(MODALITIES)}, items[r],
                           FrameMatch(*best) if best else None))
        return out


def _mean(vectors: list[np.ndarray]) -> np.ndarray | None:
    kept = [v for v in vectors if v is not None and v.any()]
    if not kept:
        return None
    return l2_normalize(np.mean(np.stack(kept), axis=0)[None, :])[0]


def item_vectors(store: Store, rows: Sequence[int]) -> dict[str, np.ndarray]:
    """Per modality, float32 (len(rows), d) item vectors; text and image stand in for each other when one is missing.

    This is how Engine.vectors treats seed items: text and image live in one space.
    """
    emb = {m: store.vectors(m, list(rows)) for m in MODALITIES}
    has_t = np.abs(emb["text"]).sum(axis=1) > 0
    has_i = np.abs(emb["image"]).sum(axis=1) > 0
    text = np.where(has_t[:, None], emb["text"], emb["image"]) if emb["text"].shape == emb["image"].shape else emb["text"]
    image = np.where(has_i[:, None], emb["image"], emb["text"]) if emb["text"].shape == emb["image"].shape else emb["image"]
    return {"text": text, "image": image, "audio": emb["audio"]}
