"""scripts/train_aligned.py: the second phase that retrains one tower's (Lite0's) head conv, on a tiny synthetic data set."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from train_aligned import Data, TrainConfig, checkpoint_meta, pretrained_tail_arrays, save, train, with_tail  # noqa: E402

from mmrec_core.encoders.aligned import feature_dims, load_heads, tail_input  # noqa: E402


def tiny(n: int = 48) -> Data:
    """n pictures in 2 sources, each with its own caption; the pooled features computed from the maps."""
    rng = np.random.default_rng(0)
    maps = np.abs(rng.standard_normal((n, *tail_input()))).astype(np.float16)
    strings = [f"thing {i}" for i in range(n)]
    text = rng.standard_normal((n, 384)).astype(np.float32)
    bridge = rng.standard_normal((n, 384)).astype(np.float32)
    stub = Data(np.array(["tuxpaint", "scratch"] * (n // 2)), np.array([str(i) for i in range(n)]), np.array(["c"] * n),
                np.zeros((n, 1280), np.float32), bridge, text, [[i] for i in range(n)], strings,
                {"map": maps, "mid": rng.standard_normal((n, feature_dims()["mid"])).astype(np.float32),
                 "pooled_max": np.zeros((n, 1280), np.float32)})
    return with_tail(stub, pretrained_tail_arrays(), ("pooled", "pooled_max", "mid"))


def test_the_tail_phase_retrains_the_head_conv_and_saves_a_checkpoint_the_encoder_reads(tmp_path):
    data = tiny()
    w0, b0 = pretrained_tail_arrays()
    config = TrainConfig(epochs=2, batch=16, repeat=(), tail_epochs=2, tail_lr=1e-2, tower="lite0")  # one tower
    arrays = train(data, config, log=False)
    assert arrays["tail_w"].shape == w0.shape and arrays["tail_b"].shape == b0.shape
    assert np.abs(arrays["tail_w"] - w0).max() > 1e-3  # it moved from the pretrained conv
    frozen = train(data, TrainConfig(epochs=2, batch=16, repeat=()), log=False)
    assert "tail_w" not in frozen
    with pytest.raises(SystemExit, match="one image tower, not lite0\\+lite1"):
        train(data, TrainConfig(epochs=2, batch=16, repeat=(), tail_epochs=1, tower="lite0+lite1"), log=False)
    save(arrays, tmp_path / "heads.npz", checkpoint_meta(data, config, 1.0))
    heads = load_heads(tmp_path / "heads.npz")
    assert heads.tail is not None and heads.image_features == ("pooled", "pooled_max", "mid")
    assert heads.meta["towers"][1] == "efficientnet-lite0 (head conv retrained)" and heads.meta["sources"] == {"tuxpaint": 24, "scratch": 24}
    moved = with_tail(data, heads.tail, heads.image_features)
    assert not np.allclose(moved.pooled, data.pooled) and np.array_equal(moved.extra["mid"], data.extra["mid"])
