"""The encoding engine protocol and the in-process engine: where ingestion's decoding and encoding run, in this process (default) or on Ray Data.

Ingestion hands an engine the jobs of one kind (text, image, audio or video) that the embedding cache
lacks; the engine yields finished batches as they complete, and ingestion writes them to the cache and
the store. Both engines run the same `decode` and `encode` below, so their vectors and per-item
problems are the same; they differ only in where those run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from mmrec_core.encoders import EncoderSet
from mmrec_core.errors import MediaError, UnknownNameError

READERS = ("text", "image", "audio", "soundtrack", "video")  # how a job's source becomes an encoder input


@dataclass(frozen=True)
class Job:
    """One input to encode: the catalog item's index, how to read it, and the text itself or the file's path."""

    index: int
    reader: str
    source: str | Path


@dataclass(frozen=True)
class Batch:
    """What one finished batch gave: `jobs` jobs done; vectors[k] (float32, 1-d) belongs to item encoded[k];
    problems are (item index, reason): a file that could not be decoded, or a note on one that was."""

    jobs: int
    encoded: list[int]
    vectors: Sequence[np.ndarray]
    problems: list[tuple[int, str]]


class EncodingEngine(Protocol):
    """run(kind, jobs, ...) yields a Batch per finished batch of jobs; models load once per worker."""

    name: str

    def run(self, kind: str, jobs: Sequence[Job], *, encoders: EncoderSet, spec: str,
            batch_size: int) -> Iterator[Batch]: ...


def encoder_of(kind: str, encoders: EncoderSet) -> Any:
    """The encoder a kind goes through (a video's frames: the image encoder)."""
    return encoders.image if kind == "video" else encoders.for_modality(kind)


def read(job: Job, encoders: EncoderSet) -> Any:
    """A job's encoder input: the text, an image or a waveform (float32, (samples,)) as its encoder's `prepare`
    leaves it (resized pixels, a spectrogram: the model-free part of encoding, done here, ahead of the forward
    pass), or a video Clip."""
    from mmrec_core.catalog import load_audio, load_image, video

    if job.reader == "text":
        return job.source
    path = Path(job.source)
    if job.reader == "image":
        return prepared(encoders.image, load_image(path))
    if job.reader == "audio":
        return prepared(encoders.audio, load_audio(path, sr=encoders.audio.sample_rate))
    if job.reader == "soundtrack":
        return prepared(encoders.audio, video.load_soundtrack(path, sr=encoders.audio.sample_rate))
    if job.reader == "video":
        return video.load_video(path)
    raise UnknownNameError(f"unknown reader {job.reader!r}. Available: {', '.join(READERS)}")


def prepared(encoder: Any, x: Any) -> Any:
    """x through the encoder's optional `prepare` (an encoder without one takes its input as it is)."""
    prepare = getattr(encoder, "prepare", None)
    return prepare(x) if prepare is not None else x


def decode(jobs: Sequence[Job], encoders: EncoderSet) -> tuple[list[int], list[Any], list[tuple[int, str]]]:
    """(indices decoded, their inputs, problems); a file that cannot be decoded is a problem, not an error."""
    ok, inputs, problems = [], [], []
    for job in jobs:
        try:
            inputs.append(read(job, encoders))
        except MediaError as exc:  # a soundtrack's problems are said apart from an audio file's
            problems.append((job.index, f"soundtrack: {exc}" if job.reader == "soundtrack" else str(exc)))
            continue
        ok.append(job.index)
        if getattr(inputs[-1], "note", ""):  # a clip sampled only in part
            problems.append((job.index, inputs[-1].note))
    return ok, inputs, problems


def encode(kind: str, encoders: EncoderSet, inputs: list[Any]) -> Sequence[np.ndarray]:
    """One vector per input: text and image embeddings, raw audio features, packed video frames (video.pack)."""
    from mmrec_core.catalog import video

    if kind == "text":
        return encoders.text.encode(inputs)
    if kind == "image":
        return encoders.image.encode(inputs)
    if kind == "audio":  # raw features: ingestion's scaler turns them into embeddings
        return encoders.audio.features(inputs)
    if kind == "video":  # frames through the image encoder
        return video.encode_clips(encoders.image.encode, inputs)
    raise UnknownNameError(f"unknown kind {kind!r}. Available: text, image, audio, video")


class InProcess:
    """This process: each batch is decoded one batch ahead in a thread, so decoding overlaps the forward pass."""

    name = "local"

    def run(self, kind: str, jobs: Sequence[Job], *, encoders: EncoderSet, spec: str,
            batch_size: int) -> Iterator[Batch]:
        batches = [jobs[start : start + batch_size] for start in range(0, len(jobs), batch_size)]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmrec-decode") as pool:
            ahead = pool.submit(decode, batches[0], encoders) if batches else None
            for k, batch in enumerate(batches):
                ok, inputs, problems = ahead.result()
                ahead = pool.submit(decode, batches[k + 1], encoders) if k + 1 < len(batches) else None
                yield Batch(len(batch), ok, encode(kind, encoders, inputs) if ok else [], problems)
