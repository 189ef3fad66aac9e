import json
import os
import subprocess
import sys
import time
from pathlib import Path

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
    from mmrec_core.clip import hub_reachable

    if hub_reachable():
        pytest.skip("the model hub is reachable here: this test checks the offline behaviour")
    start = time.perf_counter()
    with pytest.raises(EncoderUnavailable, match="openclip:ViT-B-32@PATH"):
        get_encoders("openclip:ViT-B-32/laion2b_s34b_b79k")
    assert time.perf_counter() - start < 10
    enc, warning = load_encoders("openclip:ViT-B-32/laion2b_s34b_b79k")
    assert enc.name == "bridge" and "default encoder 'bridge'" in warning


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
