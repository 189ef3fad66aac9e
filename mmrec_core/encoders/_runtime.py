"""What runs a tower's forward pass: OpenVINO on a CPU (the default), or eager torch (a GPU, training, a fallback).

A `Tower` names a network, keys it by its weights' hash, and says how to build its torch module. `load(tower)`
returns a `Forward`: numpy inputs -> numpy outputs. With OpenVINO the torch module is converted once (that needs
torch) into the cache folder, `cache_dir()/runtime/NAME-KEY-ov<version>/`, written to a temporary folder and
renamed, under a lock, so two processes converting at once leave one valid model; later processes read the
compiled model from there without importing torch. A cached model that fails to load is rebuilt with a warning;
a runtime that fails altogether falls back to torch with a warning that says why.

Choose with MMREC_RUNTIME=openvino|torch (and the threads with MMREC_THREADS); the default is openvino when it is installed and no NVIDIA device is
visible, else torch. OpenVINO's precision is always set (INFERENCE_PRECISION_HINT; its own default on a CPU with
bf16 instructions is bf16 everywhere): f32, except for a tower marked `bf16_ok` (its bf16 outputs measured within
1e-4 cosine of f32, or its retrieval within 0.005 Recall@10, bench/precision_probe.py) on a CPU that has native bf16,
where bf16 runs about twice as fast. MMREC_PRECISION=f32 keeps every tower in f32 (bf16 forces it, for measuring).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from mmrec_core.encoders._base import cache_dir
from mmrec_core.errors import EncoderError, UnknownNameError

RUNTIMES = ("openvino", "torch")
PRECISIONS = ("auto", "f32", "bf16")
log = logging.getLogger(__name__)


class Forward(Protocol):
    """A loaded network: `forward(*inputs)` -> its outputs as float32 numpy arrays, in the tower's order."""

    runtime: str

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class Tower:
    """A network to run: its name, a key of its weights (and variant), and how to build it in torch.

    `build()` returns the eval-mode torch module and example inputs (torch tensors, any batch size; every
    dimension of the converted model stays dynamic). `to_torch` turns a numpy input into what the module
    takes (e.g. channels-last images)."""

    name: str
    key: str
    build: Callable[[], tuple[Any, tuple[Any, ...]]] = field(compare=False)
    to_torch: Callable[[np.ndarray], Any] | None = field(default=None, compare=False)
    bf16_ok: bool = field(default=False, compare=False)


def weights_key(*files: str | Path, extra: str = "") -> str:
    """sha256 of the weight files (and any variant text), 16 hex digits: the cache key of a converted tower."""
    digest = hashlib.sha256(extra.encode())
    for f in files:
        with open(f, "rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()[:16]


def runtime_name() -> str:
    """The runtime towers load with: $MMREC_RUNTIME, else openvino on a CPU where it is installed, else torch."""
    name = os.environ.get("MMREC_RUNTIME", "").strip().lower()
    if name:
        if name not in RUNTIMES:
            raise UnknownNameError(f"unknown MMREC_RUNTIME {name!r}. Available: {', '.join(RUNTIMES)}")
        return name
    if Path("/dev/nvidia0").exists() or importlib.util.find_spec("openvino") is None:
        return "torch"
    return "openvino"


def threads() -> int:
    """Intra-op threads for a forward pass: $MMREC_THREADS, else the cores, at most 4 (more only spin when shared)."""
    wanted = os.environ.get("MMREC_THREADS", "").strip()
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise EncoderError(f"MMREC_THREADS={wanted!r} must be a positive whole number")
        return int(wanted)
    return max(1, min(4, os.cpu_count() or 1))


def precision_setting() -> str:
    """$MMREC_PRECISION: auto (the default), f32 or bf16."""
    wanted = os.environ.get("MMREC_PRECISION", "").strip().lower() or "auto"
    if wanted not in PRECISIONS:
        raise UnknownNameError(f"unknown MMREC_PRECISION {wanted!r}. Available: {', '.join(PRECISIONS)}")
    return wanted


def precision(tower: Tower, capabilities: Sequence[str], setting: str | None = None) -> str:
    """What OpenVINO computes `tower` in on a CPU with `capabilities`: bf16 where the tower allows it (or the
    setting forces it) and the CPU has native bf16, else f32."""
    setting = setting or precision_setting()
    if setting == "f32" or "BF16" not in capabilities:
        return "f32"
    return "bf16" if setting == "bf16" or tower.bf16_ok else "f32"


def load(tower: Tower, *, runtime: str | None = None, precision: str | None = None) -> Forward:
    """The tower on `runtime` (default runtime_name()); OpenVINO falls back to torch, with a warning, if it fails.
    `precision` (auto, f32, bf16; default $MMREC_PRECISION) matters to OpenVINO only."""
    runtime = runtime or runtime_name()
    if runtime == "torch":
        return TorchForward(tower)
    if runtime not in RUNTIMES:
        raise UnknownNameError(f"unknown runtime {runtime!r}. Available: {', '.join(RUNTIMES)}")
    if precision is not None and precision not in PRECISIONS:
        raise UnknownNameError(f"unknown precision {precision!r}. Available: {', '.join(PRECISIONS)}")
    try:
        return OpenVINOForward(tower, precision)
    except Exception as exc:  # noqa: BLE001  (any failure of the fast path must leave the slow one working)
        log.warning("OpenVINO could not run %s (%s: %s); using eager torch instead", tower.name, type(exc).__name__, exc)
        return TorchForward(tower)


class TorchForward:
    """Eager torch, on CUDA when present; outputs copied to float32 numpy."""

    runtime = "torch"

    def __init__(self, tower: Tower) -> None:
        import torch

        torch.set_num_threads(threads())
        self.tower = tower
        self.module, _ = tower.build()
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.module.to(self.device)
        self._lock = threading.Lock()

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        import torch

        conv = self.tower.to_torch or torch.from_numpy
        args = [conv(np.ascontiguousarray(x)).to(self.device) for x in inputs]
        with self._lock, torch.inference_mode():
            out = self.module(*args)
        out = out if isinstance(out, (tuple, list)) else (out,)
        return [o.float().cpu().numpy() for o in out]


class OpenVINOForward:
    """An OpenVINO model compiled for the CPU (f32, or bf16 where allowed), converted from torch on first use and
    cached on disk."""

    runtime = "openvino"

    def __init__(self, tower: Tower, setting: str | None = None) -> None:
        import openvino as ov

        self.tower, self.folder = tower, model_folder(tower, ov.__version__)
        core = ov.Core()
        self.precision = precision(tower, core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"), setting)
        self.compiled = self._compile(ov, core)
        self._lock = threading.Lock()

    def _compile(self, ov: Any, core: Any) -> Any:
        config = {"INFERENCE_PRECISION_HINT": self.precision, "INFERENCE_NUM_THREADS": threads(),
                  "PERFORMANCE_HINT": "LATENCY"}
        if _complete(self.folder):
            try:
                return core.compile_model(core.read_model(str(self.folder / "model.xml")), "CPU", config)
            except Exception as exc:  # noqa: BLE001  (a damaged cache entry is rebuilt, never fatal)
                log.warning("the cached %s model in %s does not load (%s); converting it again", self.tower.name,
                            self.folder, exc)
                shutil.rmtree(self.folder, ignore_errors=True)
        convert(self.tower, self.folder, ov)
        return core.compile_model(core.read_model(str(self.folder / "model.xml")), "CPU", config)

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            result = self.compiled([np.ascontiguousarray(x) for x in inputs])
            return [np.array(result[o], dtype=np.float32) for o in self.compiled.outputs]


def model_folder(tower: Tower, version: str) -> Path:
    tag = version.split("-")[0]
    return cache_dir() / "runtime" / f"{tower.name}-{tower.key}-ov{tag}"


def _complete(folder: Path) -> bool:
    """Whether a converted model is all there: its files have the sizes its record says (a cut copy fails)."""
    try:
        record = json.loads((folder / "record.json").read_text())
        return all((folder / name).stat().st_size == size for name, size in record["sizes"].items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def convert(tower: Tower, folder: Path, ov: Any) -> None:
    """Convert the tower's torch module to OpenVINO IR in `folder`: one process converts, the others wait for it."""
    with _locked(folder.with_name(folder.name + ".lock")):
        if _complete(folder):
            return
        log.info("converting %s for OpenVINO into %s (once)", tower.name, folder)
        module, example = tower.build()
        import torch

        with torch.no_grad():
            model = ov.convert_model(module, example_input=example)
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.") as tmp:
            ov.save_model(model, str(Path(tmp) / "model.xml"), compress_to_fp16=False)  # f16 weights drift 1e-3
            sizes = {p.name: p.stat().st_size for p in Path(tmp).iterdir()}
            (Path(tmp) / "record.json").write_text(json.dumps({"tower": tower.name, "key": tower.key, "sizes": sizes}))
            shutil.rmtree(folder, ignore_errors=True)
            os.rename(tmp, folder)
    if not _complete(folder):
        raise EncoderError(f"converting {tower.name} left no complete model in {folder}")
