"""The Ray Data encoding engine: one pipeline per kind, an actor pool whose workers each load the models once.

The driver (the ingesting process) keeps the embedding cache and writes the store; the workers only
decode and encode. Jobs travel as (item index, reader, text or path) rows, so every Ray node must see the
catalog's files at the same path (a local Ray does; a cluster needs a shared filesystem).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from mmrec_core.encoders import EncoderSet, get_encoders
from mmrec_core.errors import EncoderError, EncoderUnavailable
from mmrec_core.ingest._engine import Batch, Job, decode, encode, encoder_of

CPUS_PER_ACTOR = 2  # one forward pass uses two intra-op threads well; on 2 cores two actors are slower than one
log = logging.getLogger(__name__)
START_ATTEMPTS = 2  # a raylet that misses Ray's fixed 30 s start window on a loaded machine gets one more try
MAX_BLOCKS = 4096  # input blocks of a pipeline: one batch each up to this (finer progress), larger beyond


class EncodeBatch:
    """The Ray Data callable class of one kind: loads the encoders once per actor, decodes and encodes batches.

    Returns per job: index (int64), encoded (bool), vector (float32 bytes; empty if not encoded), problem (str).
    """

    def __init__(self, kind: str, spec: str, expected: str) -> None:
        self.kind, self.encoders = kind, get_encoders(spec)
        got = encoder_of(kind, self.encoders).name
        if got != expected:
            raise EncoderError(f"the Ray worker's {kind} encoder is {got}, the driver's {expected}: "
                               "install the same mmrec on every node")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        jobs = [Job(int(i), str(r), str(s)) for i, r, s in zip(batch["index"], batch["reader"], batch["source"])]
        ok, inputs, problems = decode(jobs, self.encoders)
        vectors = dict(zip(ok, encode(self.kind, self.encoders, inputs))) if ok else {}
        said = dict(problems)  # at most one per job: a decoding failure or a note on a decoded clip
        return {
            "index": np.array([j.index for j in jobs], np.int64),
            "encoded": np.array([j.index in vectors for j in jobs], bool),
            "vector": np.array([np.asarray(vectors[j.index], np.float32).tobytes() if j.index in vectors else b""
                                for j in jobs], dtype=object),
            "problem": np.array([said.get(j.index, "") for j in jobs], dtype=object),
        }


class RayEngine:
    """Ray Data: `address` None starts a local Ray of `num_cpus` CPUs (default: all), else joins that cluster.

    `actors`: workers per kind (default: one per GPU where the cluster has GPUs, else one per
    CPUS_PER_ACTOR CPUs), never more than there are batches.
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, num_cpus: int | None = None, actors: int | None = None) -> None:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise EncoderUnavailable("the ray engine needs Ray Data: pip install 'mmrec[scale]' (or 'ray[data]==2.60.0')")
        self.address, self.num_cpus, self.actors = address or None, num_cpus, actors

    def run(self, kind: str, jobs: Sequence[Job], *, encoders: EncoderSet, spec: str,
            batch_size: int) -> Iterator[Batch]:
        if not jobs:
            return
        import ray

        connect(self.address, num_cpus=self.num_cpus)
        size, cpus, gpus = self._pool(ray.cluster_resources(), len(jobs), batch_size)
        rows = [{"index": j.index, "reader": j.reader,
                 "source": j.source if j.reader == "text" else os.path.abspath(j.source)} for j in jobs]
        with _data_context():
            ds = ray.data.from_items(rows, override_num_blocks=min(MAX_BLOCKS, -(-len(rows) // batch_size)))
            out = ds.map_batches(
                EncodeBatch, fn_constructor_kwargs={"kind": kind, "spec": spec, "expected": encoder_of(kind, encoders).name},
                batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=size),
                num_cpus=cpus, num_gpus=gpus)
            try:
                for block in out.iter_batches(batch_size=None, batch_format="numpy"):
                    yield _batch(block)
            except ray.exceptions.RayError as exc:
                raise EncoderError(f"the Ray pipeline encoding {kind} failed: {str(exc).strip().splitlines()[-1]}") from exc

    def _pool(self, resources: dict[str, float], n_jobs: int, batch_size: int) -> tuple[int, float, float]:
        """(actors, CPUs per actor, GPUs per actor) for this cluster and this many jobs."""
        batches = -(-n_jobs // batch_size)
        gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 1))
        if gpus >= 1:
            return max(1, min(batches, self.actors or int(gpus))), 1.0, 1.0
        per = min(float(CPUS_PER_ACTOR), cpus)
        return max(1, min(batches, self.actors or int(cpus // per))), per, 0.0


def connect(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at `address`, or start a local one (usage stats off, no dashboard); once per process.

    A local Ray writes its session folder and logs under the system temp dir (TMPDIR/ray), nothing else.
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None:  # a private local Ray needs no token (it would be written to ~/.ray)
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:
        options.update(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False)
    for attempt in range(1 if address else START_ATTEMPTS):
        try:
            ray.init(address=address, **options)
            return
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EncoderError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}") from None
        except Exception as exc:  # noqa: BLE001  (ray raises a bare Exception when its raylet does not come up)
            ray.shutdown()  # ends what this try started, so the next one begins clean
            failure = f"{exc}{_local_logs()}"
            log.warning("a local Ray did not start (try %d of %d): %s", attempt + 1, START_ATTEMPTS, failure)
    raise EncoderError(f"cannot start a local Ray: {failure}")


def _local_logs(lines: int = 8) -> str:
    """The last lines of the newest local Ray session's raylet and GCS logs: why a node did not come up."""
    logs = Path(tempfile.gettempdir()) / "ray" / "session_latest" / "logs"
    out = []
    for name in ("raylet.err", "raylet.out", "gcs_server.err", "gcs_server.out"):
        try:
            tail = (logs / name).read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            continue
        if tail:
            out.append(f"\n--- {logs / name} (last lines) ---\n" + "\n".join(tail))
    return "".join(out)


@contextlib.contextmanager
def _data_context() -> Iterator[None]:
    """Ray Data without its progress output (mmrec reports progress) and in input order (problems keep theirs)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    saved = ctx.enable_progress_bars, ctx.execution_options.preserve_order, ctx.verbose_stats_logs
    ctx.enable_progress_bars, ctx.execution_options.preserve_order = False, True
    level = logging.getLogger("ray.data").level
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # not even "progress bars disabled"
    try:
        yield
    finally:
        ctx.enable_progress_bars, ctx.execution_options.preserve_order, ctx.verbose_stats_logs = saved
        logging.getLogger("ray.data").setLevel(level)


def _batch(block: dict[str, np.ndarray]) -> Batch:
    encoded = [int(i) for i, ok in zip(block["index"], block["encoded"]) if ok]
    vectors = [np.frombuffer(v, np.float32).copy() for v, ok in zip(block["vector"], block["encoded"]) if ok]
    problems = [(int(i), str(p)) for i, p in zip(block["index"], block["problem"]) if p]
    return Batch(len(block["index"]), encoded, vectors, problems)
