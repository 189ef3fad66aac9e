"""Ingestion: catalog -> per-modality embeddings (cached, batched, with progress) -> a new store version."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from mmrec_core.catalog import Catalog, Item, Problem, load_catalog, video
from mmrec_core.encoders import DEFAULT_ENCODER, EncoderSet, cache_dir, load_encoders, spec_of_vectors
from mmrec_core.encoders.librosa_audio import AudioScaler
from mmrec_core.errors import CatalogError
from mmrec_core.ingest._cache import EmbeddingCache, content_key
from mmrec_core.ingest._engine import Batch, EncodingEngine, Job
from mmrec_core.ingest._engines import get_engine
from mmrec_core.retrieval import MODALITIES, IndexConfig
from mmrec_core.store import Change, Rows, Store, add_items, check_writable, open_store, store_media, write_store
from mmrec_core.vectors import l2_normalize

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): called as work advances; stages are text, image, audio, store."""

SEED_FILE = "embeddings-seed.npz"
FRAMES_CACHE = "frames-v1"  # cache namespace of sampled frame vectors: change it when the sampling changes
KINDS = (*MODALITIES, "video")  # what ingest embeds: video frames land in the image space, soundtracks in audio
_Runner = Callable[..., Iterator[Batch]]  # run(kind, jobs, batch_size=...): the engine's batches, as they finish


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class IngestReport:
    store: Store
    problems: tuple[Problem, ...]
    encoded: dict[str, int]  # computed now, per modality
    cached: dict[str, int]  # taken from the cache, per modality
    seconds: float
    warning: str | None = None
    change: Change | None = None  # what `add` did to the store (None for a new store)

    def summary(self) -> dict[str, Any]:
        return {
            "store": str(self.store.path),
            "version": self.store.version,
            "items": self.store.n_items,
            "counts": self.store.counts(),
            "encoder": self.store.encoder,
            "encoded": self.encoded,
            "cached": self.cached,
            "problems": len(self.problems),
            "seconds": round(self.seconds, 2),
            **({"warning": self.warning} if self.warning else {}),
            **({"change": self.change.to_json()} if self.change else {}),
        }


@dataclass
class _Work:
    """Embeddings gathered per kind (text, image, audio, video): {item_index: vector}."""

    vectors: dict[str, dict[int, np.ndarray]] = field(default_factory=lambda: {m: {} for m in KINDS})
    keys: dict[str, dict[int, str]] = field(default_factory=lambda: {m: {} for m in KINDS})
    encoded: dict[str, int] = field(default_factory=lambda: {m: 0 for m in KINDS})
    cached: dict[str, int] = field(default_factory=lambda: {m: 0 for m in KINDS})
    problems: list[Problem] = field(default_factory=list)
    _file_keys: dict[Path, str] = field(default_factory=dict)

    def file_key(self, path: Path) -> str:
        """A file's content key, hashed once per ingest (a video serves both its frames and its soundtrack)."""
        if path not in self._file_keys:
            self._file_keys[path] = content_key(path.read_bytes())
        return self._file_keys[path]


def default_cache(*, seeds: Sequence[Path] = ()) -> EmbeddingCache:
    """The user's embedding cache: $MMREC_EMBED_CACHE or CACHE_DIR/embeddings.sqlite."""
    path = os.environ.get("MMREC_EMBED_CACHE")
    return EmbeddingCache(Path(path) if path else cache_dir() / "embeddings.sqlite", seeds=seeds)


def catalog_of_store(store: Store) -> Catalog:
    """The catalog a store was built from, read back from the store itself (its items and media).

    Re-encoding a store with another encoder is `ingest(catalog_of_store(store), new_path, encoder=...)`.
    The root is the original source when it still exists (so a shipped embedding seed there is used).
    """
    root = store.source or store.path
    items = tuple(
        Item(id=it["id"], title=it.get("title") or "", description=it.get("description") or "",
             tags=tuple(it.get("tags") or ()), image=store.media_path(it.get("image")),
             audio=store.media_path(it.get("audio")), metadata=dict(it.get("metadata") or {}),
             video=store.media_path(it.get("video")))
        for it in (store.items[r] for r in store.live_rows))
    return Catalog(root=root, items=items, problems=())


def ingest(
    src: str | Path | Catalog,
    store_path: str | Path,
    *,
    encoder: str = DEFAULT_ENCODER,
    cache: EmbeddingCache | None = None,
    progress: Progress = _no_progress,
    batch_size: int = 32,
    index_config: IndexConfig = IndexConfig(),
    index: str | None = None,
    engine: str | EncodingEngine = "local",
) -> IngestReport:
    """Read `src` (folder, catalog.csv, .zip or a Catalog), embed every modality, write a new store version.

    engine: where decoding and encoding run: local (this process) or ray (Ray Data; engines.get_engine), or an engine.

    index: the index backend (faiss, milvus, milvus://HOST:PORT[/COLLECTION]); None keeps the store's, or faiss.
    """
    def write(catalog: Catalog, encoders: EncoderSet, spec: str, work: _Work) -> tuple[Store, None]:
        rows, scaler = _assemble(catalog, Path(store_path), encoders, work, None)
        return write_store(store_path, items=rows.items, embeddings=rows.embeddings, scaler=scaler,
                           encoder=_encoder_info(encoders, spec), report=_report(work), index_config=index_config,
                           extra={"source": str(catalog.root)}, frames=rows.frames, index=index), None

    return _run(src, store_path, encoder, cache, progress, batch_size, write, get_engine(engine))


def add(
    src: str | Path | Catalog,
    store_path: str | Path,
    *,
    cache: EmbeddingCache | None = None,
    progress: Progress = _no_progress,
    batch_size: int = 32,
    engine: str | EncodingEngine = "local",
    force: bool = False,
) -> IngestReport:
    """Embed the items of `src` with the store's own encoder and add them to the live store in place.

    An id the store holds already is replaced. The store's audio scaler is kept (the stored vectors
    stay comparable). A catalog none of whose items can be encoded raises CatalogError, store untouched; a
    read-only store raises ReadOnlyStoreError before anything is encoded (force: its owner adds anyway).
    """
    check_writable(store_path, force=force)
    live = open_store(store_path)
    spec = spec_of_vectors(live.manifest["encoder"])  # an earlier aligned checkpoint's store grows with it

    def write(catalog: Catalog, encoders: EncoderSet, spec: str, work: _Work) -> tuple[Store, Change]:
        rows, _ = _assemble(catalog, Path(store_path), encoders, work, live.scaler)
        return add_items(store_path, rows, encoder=_encoder_info(encoders, spec), report=_report(work), force=force)

    return _run(src, store_path, spec, cache, progress, batch_size, write, get_engine(engine))


def _run(src: str | Path | Catalog, store_path: str | Path, encoder: str, cache: EmbeddingCache | None,
         progress: Progress, batch_size: int,
         write: Callable[[Catalog, EncoderSet, str, _Work], tuple[Store, Change | None]],
         engine: EncodingEngine) -> IngestReport:
    start = time.perf_counter()
    store_path = Path(store_path)
    store_path.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=".upload-", dir=store_path))
    try:
        catalog = src if isinstance(src, Catalog) else load_catalog(src, workdir=workdir)
        if not catalog.items:
            reasons = "; ".join(f"{p.item_id}: {p.reason}" for p in catalog.problems[:5])
            raise CatalogError(f"the catalog has no usable items{' (' + reasons + ')' if reasons else ''}")
        if cache is None:
            seed = catalog.root / SEED_FILE
            cache = default_cache(seeds=[seed] if seed.is_file() else [])
        encoders, warning = load_encoders(encoder)
        spec = encoder if warning is None else encoders.name
        run = functools.partial(engine.run, encoders=encoders, spec=spec)
        work = _Work(problems=list(catalog.problems))
        _embed_text(catalog.items, encoders, cache, work, progress, batch_size, run)
        for kind in ("image", "audio", "video"):
            _embed_media(catalog.items, kind, encoders, cache, work, progress, batch_size, run)
        progress("store", 0, 1)
        store, change = write(catalog, encoders, spec, work)
        progress("store", 1, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return IngestReport(store, tuple(work.problems), work.encoded, work.cached, time.perf_counter() - start, warning,
                        change)


def _embed_text(items: Sequence[Item], encoders: EncoderSet, cache: EmbeddingCache, work: _Work,
                progress: Progress, batch_size: int, run: _Runner) -> None:
    # shortest first: a batch of similar lengths pads little (the text tower's cost grows with the longest)
    jobs = {i: Job(i, "text", items[i].text) for i in sorted((i for i, it in enumerate(items) if it.text),
                                                             key=lambda i: len(items[i].text))}
    salt = getattr(encoders.text, "cache_salt", None)  # '' keeps a text's key; e.g. another language's route adds one
    keys = {i: content_key((salt(it.text) if salt else "") + it.text) for i, it in enumerate(items) if it.text}
    _fill("text", jobs, keys, encoders.text.name, cache, work, progress, items,
          functools.partial(run, "text", batch_size=batch_size * 2))


def _embed_media(items: Sequence[Item], kind: str, encoders: EncoderSet, cache: EmbeddingCache,
                 work: _Work, progress: Progress, batch_size: int, run: _Runner) -> None:
    """Images, audio (an audio file, else a video's soundtrack) or video frames: one job per readable file."""
    if kind == "video":  # frames through the image encoder; cached as packed (times, frame vectors)
        jobs = {i: Job(i, "video", it.video) for i, it in enumerate(items) if it.video is not None}
        enc_name = f"{encoders.image.name}/{FRAMES_CACHE}"
        batch_size = max(1, batch_size // 8)  # up to 16 frames a clip
    elif kind == "audio":  # raw features: the catalog's scaler turns them into embeddings in _assemble
        jobs = {i: Job(i, "audio", it.audio) if it.audio is not None else Job(i, "soundtrack", it.video)
                for i, it in enumerate(items) if (it.audio or it.video) is not None}
        enc_name = encoders.audio.name
    else:
        jobs = {i: Job(i, "image", it.image) for i, it in enumerate(items) if it.image is not None}
        enc_name = encoders.image.name
    keys: dict[int, str] = {}
    for i, job in jobs.items():
        try:
            keys[i] = work.file_key(Path(job.source))
        except OSError as exc:
            work.problems.append(Problem(items[i].id, kind, f"cannot read file: {exc}"))
    _fill(kind, {i: jobs[i] for i in keys}, keys, enc_name, cache, work, progress, items,
          functools.partial(run, kind, batch_size=batch_size))
    for i in keys:
        if i in work.vectors[kind]:
            work.keys[kind][i] = keys[i]


def _fill(kind: str, jobs: dict[int, Job], keys: dict[int, str], encoder_name: str, cache: EmbeddingCache,
          work: _Work, progress: Progress, items: Sequence[Item], run: Callable[[list[Job]], Iterator[Batch]]) -> None:
    """Take what the cache has, have the engine encode the rest, report progress, write back to the cache.

    The cache is written batch by batch as the engine finishes them, so a killed ingest resumes from it.
    """
    hits = cache.get_many(encoder_name, keys.values())
    missing = [job for i, job in jobs.items() if keys[i] not in hits]
    for i in jobs:
        if keys[i] in hits:
            work.vectors[kind][i] = hits[keys[i]]
    work.cached[kind] = len(jobs) - len(missing)
    total, done = len(jobs), len(jobs) - len(missing)
    progress(kind, done, total)
    for batch in run(missing):
        work.problems.extend(Problem(items[i].id, kind, reason) for i, reason in batch.problems)
        if batch.encoded:
            cache.put_many(encoder_name, {keys[i]: v for i, v in zip(batch.encoded, batch.vectors)})
            for i, v in zip(batch.encoded, batch.vectors):
                work.vectors[kind][i] = v
            work.encoded[kind] += len(batch.encoded)
        done += batch.jobs
        progress(kind, done, total)


def _encoder_info(encoders: EncoderSet, spec: str) -> dict[str, str]:
    return {"name": encoders.name, "spec": spec, **{m: encoders.for_modality(m).name for m in MODALITIES}}


def _report(work: _Work) -> list[dict[str, str]]:
    return [{"id": p.item_id, "modality": p.modality, "reason": p.reason} for p in work.problems]


def _assemble(catalog: Catalog, store_path: Path, encoders: EncoderSet, work: _Work,
              scaler: AudioScaler | None) -> tuple[Rows, AudioScaler]:
    """The encoded items as store rows (items that no modality could encode are reported and skipped).

    scaler None: fit the audio scaler over this catalog; else apply the given one (adding to a store).
    """
    keep = [i for i in range(len(catalog.items)) if any(i in work.vectors[m] for m in KINDS)]
    if not keep:
        raise CatalogError("no item of the catalog could be encoded; see the problems reported per item")
    for i in range(len(catalog.items)):
        if i not in keep:
            work.problems.append(Problem(catalog.items[i].id, "item", "no modality could be encoded: item skipped"))
    emb = {m: np.zeros((len(keep), encoders.for_modality(m).dim), np.float32) for m in MODALITIES}
    for row, i in enumerate(keep):
        for m in ("text", "image"):
            if i in work.vectors[m]:
                emb[m][row] = work.vectors[m][i]
    frames = _frames(keep, work, emb["image"])
    # audio: the cache holds raw features; the scaler is fit over the catalog and stored with the store
    audio_rows = [row for row, i in enumerate(keep) if i in work.vectors["audio"]]
    raw_dim = encoders.audio.raw_dim
    raw = np.stack([work.vectors["audio"][keep[row]] for row in audio_rows]) if audio_rows else np.zeros((0, raw_dim))
    scaler = AudioScaler.fit(raw, raw_dim) if scaler is None else scaler
    if audio_rows:
        emb["audio"][audio_rows] = scaler.apply(raw)
    emb["text"], emb["image"] = l2_normalize(emb["text"]), l2_normalize(emb["image"])
    records = []
    for i in keep:
        it = catalog.items[i]
        soundtrack = it.audio is None and i in work.keys["audio"]  # the audio player plays the video itself
        records.append({
            "id": it.id, "title": it.title, "description": it.description, "tags": list(it.tags),
            "image": store_media(store_path, it.image, work.keys["image"][i]) if i in work.keys["image"] else None,
            "audio": store_media(store_path, it.audio, work.keys["audio"][i]) if i in work.keys["audio"] and not soundtrack else None,
            "video": store_media(store_path, it.video, work.keys["video"][i]) if i in work.keys["video"] else None,
            "metadata": dict(it.metadata),
        })
    return Rows(records, emb, frames), scaler


def _frames(keep: Sequence[int], work: _Work, image: np.ndarray) -> video.FrameTable:
    """Each video's frame vectors with their times; the clip's pooled vector becomes (or joins) the item's image.

    An item with a still image and a video gets the normalised sum of both, so either can find it
    (the still is the catalog's own picture of the item, the frames are what plays).
    """
    rows, times, vecs = [], [], []
    for row, i in enumerate(keep):
        packed = work.vectors["video"].get(i)
        if packed is None:
            continue
        t, v = video.unpack(packed, image.shape[1])
        image[row] = video.pool(v) + (image[row] if i in work.vectors["image"] else 0.0)
        rows.append(np.full(len(t), row, np.int32))
        times.append(t)
        vecs.append(v)
    if not rows:
        return video.FrameTable.empty(image.shape[1])
    return video.FrameTable(np.concatenate(rows), np.concatenate(times), l2_normalize(np.concatenate(vecs)))
