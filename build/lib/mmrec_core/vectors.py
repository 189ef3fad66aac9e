"""The embedding contract: float32 (n, d), rows L2-normalised, zero rows stay zero."""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray, *, eps: float = 1e-12) -> np.ndarray:
    """Rows of a (n, d) array scaled to unit length as float32; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"l2_normalize expects a (n, d) array, got shape {x.shape}")
    x = np.where(np.isfinite(x), x, 0.0).astype(np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > eps)
