"""The runtime seam: every tower gives the torch path's vectors on OpenVINO, the cache survives damage and races,
a failing runtime falls back to torch, and a text query never imports torch."""

import importlib.util
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import DEMO, ROOT
from test_encoders import tiny_clip_checkpoint  # noqa: F401  (a fixture: a small random open_clip model on disk)
from mmrec_core.encoders import _runtime
from mmrec_core.errors import UnknownNameError

openvino = pytest.importorskip("openvino")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return np.sum(a * b, 1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


@pytest.fixture(scope="module")
def demo_items():
    from mmrec_core.catalog import load_catalog

    return load_catalog(DEMO).items


def test_minilm_on_openvino_gives_the_torch_vectors():
    from mmrec_core.encoders.bridge import MiniLMText

    texts = ["a penguin", "Un pingüino en la nieve", "企鹅", " ", "word " * 200]
    fast, slow = MiniLMText(runtime="openvino"), MiniLMText(runtime="torch")
    assert (fast.forward.runtime, slow.forward.runtime) == ("openvino", "torch")
    assert fast.forward.precision in ("bf16", "f32")  # bf16 where the CPU has it: still within 1e-4
    assert cosines(fast.encode(texts), slow.encode(texts)).min() > 1 - 1e-4


def test_precision_is_bf16_only_where_the_tower_allows_it_and_the_cpu_has_it(monkeypatch):
    from mmrec_core.encoders._towers import lite_tower, minilm_tower

    text, image = minilm_tower(), lite_tower()
    assert (text.bf16_ok, image.bf16_ok) == (True, False)  # Lite0 in bf16 moved a held-out Recall@10 by 0.006
    assert _runtime.precision(text, ["FP32", "BF16"], "auto") == "bf16"
    assert _runtime.precision(image, ["FP32", "BF16"], "auto") == "f32"
    assert _runtime.precision(text, ["FP32", "INT8"], "auto") == "f32"  # no native bf16: never emulated
    assert _runtime.precision(text, ["FP32", "BF16"], "f32") == "f32"
    assert _runtime.precision(image, ["FP32", "BF16"], "bf16") == "bf16"  # forced, for measuring
    monkeypatch.setenv("MMREC_PRECISION", "F32")
    assert _runtime.precision_setting() == "f32"
    monkeypatch.setenv("MMREC_PRECISION", "fp8")
    with pytest.raises(UnknownNameError, match="auto, f32, bf16"):
        _runtime.precision_setting()


@pytest.mark.parametrize("tower", ["lite0", "lite1"])  # the aligned encoder's two towers
def test_lite_on_openvino_gives_the_torch_levels(demo_items, tower):
    from mmrec_core.catalog._media import load_image
    from mmrec_core.encoders._towers import LITE_OUTPUTS
    from mmrec_core.encoders.bridge import ImageNetBridge, MiniLMText

    images = [load_image(it.image) for it in demo_items if it.image][::97][:8]
    text = MiniLMText()
    fast, slow = ImageNetBridge(text, runtime="openvino", tower=tower), ImageNetBridge(text, runtime="torch", tower=tower)
    got, want = fast.run(images), slow.run(images)
    for name in LITE_OUTPUTS:
        assert cosines(got[name], want[name]).min() > 1 - 1e-4, name
    assert np.abs(got["logits"] - want["logits"]).max() < 1e-3
    assert cosines(fast.encode(images), slow.encode(images)).min() > 1 - 1e-4


@pytest.mark.skipif(importlib.util.find_spec("aisfx") is None, reason="aisfx is installed by make (requirements-nodeps.txt)")
def test_aisfx_on_openvino_gives_the_torch_vectors_and_its_own_blocks(demo_items):
    from aisfx import preprocessing

    from mmrec_core.catalog._media import load_audio
    from mmrec_core.encoders.aisfx_audio import AisfxAudio, _blocking

    clips = [load_audio(it.audio, sr=44100) for it in demo_items if it.audio][:4]
    fast, slow = AisfxAudio(runtime="openvino"), AisfxAudio(runtime="torch")
    assert cosines(fast.features(clips), slow.features(clips)).min() > 1 - 1e-4
    spec = np.random.default_rng(0).random((437, 96))
    for frames in (437, 150, 100, 60):
        np.testing.assert_array_equal(_blocking(spec[:frames]),
                                      preprocessing.blocking(spec[:frames], 100, 50, drop_partial_block=True))


def tiny_tower(key: str = "k1") -> _runtime.Tower:
    def build():
        import torch

        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Tanh()).eval(), (torch.zeros((2, 8)),)

    return _runtime.Tower("tiny-test", key, build)


def test_a_cut_cached_model_is_rebuilt_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MMREC_CACHE_DIR", str(tmp_path))
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    want = _runtime.load(tiny_tower(), runtime="torch")(x)[0]
    first = _runtime.load(tiny_tower(), runtime="openvino")
    assert first.runtime == "openvino"
    folder = first.folder
    weights = folder / "model.bin"
    weights.write_bytes(weights.read_bytes()[:-16])  # a copy cut short
    with caplog.at_level(logging.WARNING):
        again = _runtime.load(tiny_tower(), runtime="openvino")
    assert again.runtime == "openvino"
    np.testing.assert_allclose(again(x)[0], want, atol=1e-6)
    (folder / "model.xml").write_text("<net>not a model</net>")  # sizes wrong too: rebuilt, not a crash
    assert _runtime.load(tiny_tower(), runtime="openvino")(x)[0] == pytest.approx(want, abs=1e-6)


def test_two_processes_converting_at_once_leave_one_valid_model(tmp_path):
    code = ("import sys, numpy as np; sys.path.insert(0, 'tests'); from test_runtime import tiny_tower;"
            "from mmrec_core.encoders import _runtime;"
            "print(float(_runtime.load(tiny_tower('race'), runtime='openvino')(np.ones((1, 8), np.float32))[0].sum()))")
    env = {**os.environ, "MMREC_CACHE_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert outs[0][0] == outs[1][0]
    entries = sorted(p.name for p in (tmp_path / "runtime").iterdir())
    assert len([e for e in entries if not e.endswith(".lock")]) == 1 and not any(e.startswith(".") for e in entries)
    folder = next(p for p in (tmp_path / "runtime").iterdir() if p.is_dir())
    record = json.loads((folder / "record.json").read_text())
    assert {n: (folder / n).stat().st_size for n in record["sizes"]} == record["sizes"]


def test_a_runtime_that_fails_falls_back_to_torch_with_a_warning(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("MMREC_CACHE_DIR", str(tmp_path))

    def broken(self, tower, setting=None):
        raise RuntimeError("no CPU plugin")

    monkeypatch.setattr(_runtime.OpenVINOForward, "__init__", broken)
    with caplog.at_level(logging.WARNING):
        forward = _runtime.load(tiny_tower(), runtime="openvino")
    assert forward.runtime == "torch"
    assert any("no CPU plugin" in r.getMessage() and "eager torch" in r.getMessage() for r in caplog.records)


def test_the_runtime_is_chosen_by_name(monkeypatch):
    monkeypatch.setenv("MMREC_RUNTIME", "torch")
    assert _runtime.runtime_name() == "torch"
    monkeypatch.setenv("MMREC_RUNTIME", "tensorrt")
    with pytest.raises(UnknownNameError, match="openvino, torch"):
        _runtime.runtime_name()


def test_a_text_query_never_imports_torch(tiny_store):
    from mmrec_core.encoders.bridge import MiniLMText

    MiniLMText(runtime="openvino")  # converted (with torch) here, if this cache has no MiniLM yet
    code = ("import sys; from mmrec_core.query import Engine, Query; from mmrec_core.store import open_store;"
            "from mmrec_core.retrieval import Weights;"
            f"hits = Engine(open_store({str(tiny_store.store.path)!r})).search(Query(text='a red ball'), Weights());"
            "print(hits[0].id, 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "MMREC_RUNTIME"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["red", "False"]


def test_open_clip_towers_on_openvino_give_the_torch_vectors(tiny_clip_checkpoint):
    from PIL import Image

    from mmrec_core.encoders.openclip import OpenClipImage, OpenClipModel, OpenClipText

    ckpt = str(tiny_clip_checkpoint / "tiny.pt")
    fast, slow = OpenClipModel("mmrec-tiny-test", ckpt, runtime="openvino"), OpenClipModel("mmrec-tiny-test", ckpt, runtime="torch")
    assert (fast.text_forward.runtime, fast.image_forward.runtime, slow.image_forward.runtime) == ("openvino", "openvino", "torch")
    texts = ["a penguin", "a red sports car", ""]
    images = [Image.new("RGB", (64, 48), c) for c in ("red", "navy", "white")]
    assert cosines(OpenClipText(fast).encode(texts), OpenClipText(slow).encode(texts)).min() > 1 - 1e-4
    assert cosines(OpenClipImage(fast).encode(images), OpenClipImage(slow).encode(images)).min() > 1 - 1e-4
