import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from mmrec_core.encoders import get_encoders, load_encoders
from mmrec_core.errors import EncoderUnavailable, UnknownNameError

TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 16},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_clip_checkpoint(tmp_path_factory):
    """A small random open_clip model saved to a local file, its config in a folder open_clip reads."""
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("clip")
    (folder / "configs").mkdir()
    (folder / "configs" / "mmrec-tiny-test.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder / "configs")
    torch.manual_seed(0)
    model = open_clip.create_model("mmrec-tiny-test")
    torch.save(model.state_dict(), folder / "tiny.pt")
    return folder


def test_bridge_text_and_audio_contract():
    enc = get_encoders("bridge")
    assert get_encoders("bridge") is enc  # loaded once per process
    t = enc.text.encode(["a penguin on ice", "", "a red sports car"])
    assert t.shape == (3, 384) and t.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    raw = enc.audio.features([np.zeros(100, np.float32), np.random.default_rng(0).standard_normal(22050).astype(np.float32)])
    assert raw.shape == (2, enc.audio.dim - 1) and np.isfinite(raw).all()
    emb = enc.audio.encode([np.zeros(100, np.float32)])  # silence still has a direction (the bias term)
    assert emb.shape == (1, enc.audio.dim) and abs(np.linalg.norm(emb) - 1) < 1e-5


def test_aisfx_audio_contract_and_fallback(monkeypatch):
    from mmrec_core.encoders.librosa_audio import AudioScaler

    enc = get_encoders("aligned+aisfx")
    assert enc.name == "aligned+aisfx" and enc.audio.sample_rate == 44100 and enc.audio.dim == 513
    assert enc.text.name == get_encoders("aligned").text.name and enc.image.name == get_encoders("aligned").image.name
    rng = np.random.default_rng(0)
    clips = [np.zeros(44100, np.float32), rng.standard_normal(300).astype(np.float32),  # silence; under one window
             (0.3 * np.sin(2 * np.pi * 440 * np.arange(44100 * 4) / 44100)).astype(np.float32)]  # several blocks
    raw = enc.audio.features(clips)
    assert raw.shape == (3, 512) and raw.dtype == np.float32 and np.isfinite(raw).all()
    np.testing.assert_allclose(np.stack([enc.audio.features([c])[0] for c in clips]), raw, atol=1e-5)  # batching is exact
    emb = AudioScaler.fit(raw, 512).apply(raw)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    # without the aisfx package: the same text/image family with librosa audio, and a reason
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "aisfx" else real(name, *a))
    import mmrec_core.encoders._registry as encoders_module
    monkeypatch.setattr(encoders_module, "_LOADED", {})
    encoders_module._audio_encoder.cache_clear()  # as in a process where aisfx was never loaded
    fallback, warning = load_encoders("bridge+aisfx")
    assert fallback.name == "bridge" and "aisfx" in warning and "librosa" in warning


def test_aisfx_groups_demo_sounds_by_category():
    """Leave-one-out nearest neighbour among demo clips of the three largest categories beats chance clearly."""
    from collections import Counter

    from mmrec_core.encoders.librosa_audio import AudioScaler
    from mmrec_core.catalog import load_catalog
    from mmrec_core.catalog import load_audio

    from conftest import DEMO

    items = [it for it in load_catalog(DEMO).items if it.audio]
    label = {it.id: it.metadata.get("category") or it.tags[0] for it in items}
    top = [c for c, _ in Counter(label.values()).most_common(3)]
    picked = [it for c in top for it in [it for it in items if label[it.id] == c][:10]]
    enc = get_encoders("aligned+aisfx").audio
    raw = enc.features([load_audio(it.audio, sr=enc.sample_rate) for it in picked])
    emb = AudioScaler.fit(raw, enc.raw_dim).apply(raw)
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    labels = [label[it.id] for it in picked]
    p_at_1 = np.mean([labels[int(np.argmax(row))] == labels[i] for i, row in enumerate(sims)])
    assert p_at_1 >= 0.6, p_at_1  # chance is about 0.31 (9 of 29 others share the category)


def test_bridge_puts_images_in_the_text_space():
    """A generated picture of a red ball is closer to 'red ball' than to unrelated captions."""
    from PIL import Image, ImageDraw

    enc = get_encoders("bridge")
    im = Image.new("RGB", (160, 160), "white")
    ImageDraw.Draw(im).ellipse((20, 20, 140, 140), fill="red")
    v = enc.image.encode([im])
    assert v.shape == (1, 384) and abs(np.linalg.norm(v) - 1) < 1e-5
    texts = enc.text.encode(["a red ball", "a piano keyboard", "a whale in the ocean"])
    assert int(np.argmax(texts @ v[0])) in (0,)


def test_openclip_local_checkpoint_through_the_user_path(tiny_clip_checkpoint, tiny_catalog, tmp_path):
    ckpt = tiny_clip_checkpoint / "tiny.pt"
    enc = get_encoders(f"openclip:mmrec-tiny-test@{ckpt}")
    assert enc.text.dim == 32 and enc.name.startswith("openclip:mmrec-tiny-test/file-")
    t = enc.text.encode(["a cat", "a dog"])
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    # the command line, in a fresh process, exactly as a user runs it
    env = {**os.environ, "MMREC_OPENCLIP_CONFIGS": str(tiny_clip_checkpoint / "configs")}
    out = subprocess.run([sys.executable, "-m", "mmrec_core", "ingest", str(tiny_catalog), "--store", str(tmp_path / "s"),
                          "--encoder", f"openclip:mmrec-tiny-test@{ckpt}", "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["encoder"].startswith("openclip:mmrec-tiny-test/file-") and summary["counts"]["image"] == 3


def test_openclip_offline_tag_fails_fast_with_advice():
    from mmrec_core.encoders.openclip import hub_reachable

    if hub_reachable():
        pytest.skip("the model hub is reachable here: this test checks the offline behaviour")
    start = time.perf_counter()
    with pytest.raises(EncoderUnavailable, match="openclip:ViT-B-32@PATH"):
        get_encoders("openclip:ViT-B-32/laion2b_s34b_b79k")
    assert time.perf_counter() - start < 10
    enc, warning = load_encoders("openclip:ViT-B-32/laion2b_s34b_b79k")
    assert enc.name == "bridge" and "fallback encoder 'bridge'" in warning


def test_unknown_encoders_list_what_exists():
    with pytest.raises(UnknownNameError, match="Available: bridge"):
        get_encoders("nope")
    with pytest.raises(UnknownNameError, match="unknown pretrained tag 'nope'"):
        get_encoders("openclip:ViT-B-32/nope")
    with pytest.raises(EncoderUnavailable, match="not found"):
        get_encoders("openclip:ViT-B-32@/no/such/file.pt")


def test_a_checkpoint_carrying_code_is_refused_not_run(tiny_clip_checkpoint, tmp_path):
    import torch

    from mmrec_core.errors import EncoderError

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"state_dict": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(EncoderError, match="cannot load open_clip"):
        get_encoders(f"openclip:mmrec-tiny-test@{tmp_path / 'evil.pt'}")
    assert not marker.exists()
