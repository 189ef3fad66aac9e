"""2-D projections of item embeddings (PCA, t-SNE) cached per store version, ranking comparisons, figures. Pure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mmrec_core.errors import UnknownNameError
from mmrec_core.retrieval import MODALITIES, Weights

SPACES = ("fused", "text", "image", "audio")
METHODS = {"pca": "PCA", "tsne": "t-SNE"}
COLOURS = {"text": "#4C78A8", "image": "#F58518", "audio": "#54A24B",
           # the parts of recommendation scores: the hybrid's learned item factors, and a blend's models
           "collaborative": "#B279A2", "popularity": "#9D755D", "itemknn": "#E45756", "content": "#72B7B2",
           "hybrid": "#EECA3B"}


def space_matrix(embeddings: Mapping[str, np.ndarray], space: str, weights: Weights) -> tuple[np.ndarray, np.ndarray]:
    """Rows to project, float32 (n, d), and which items have them, (n,) bool.

    'fused' concatenates sqrt(w_m) * X_m over modalities with w_m > 0 (weights scaled to sum 1), so
    the dot product of two fused rows is the weighted sum of their per-modality cosines.
    """
    if space not in SPACES:
        raise UnknownNameError(f"unknown embedding space {space!r}. Available: {', '.join(SPACES)}")
    present = {m: np.abs(np.asarray(embeddings[m])).sum(axis=1) > 0 for m in MODALITIES}
    if space != "fused":
        return np.asarray(embeddings[space], dtype=np.float32), present[space]
    w = weights.as_array()
    if w.sum() <= 0:
        w = np.ones_like(w)
    w = w / w.sum()
    used = [m for m, wm in zip(MODALITIES, w) if wm > 0]
    x = np.concatenate([np.sqrt(wm) * np.asarray(embeddings[m], dtype=np.float32) for m, wm in zip(MODALITIES, w) if wm > 0], axis=1)
    return x.astype(np.float32), np.any([present[m] for m in used], axis=0)


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components of (n, d) as float32 (n, 2); signs fixed so results are reproducible."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros((x.shape[0], 2), dtype=np.float32)
    if x.shape[0] < 2:
        return out
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    signs = np.sign(comps[np.arange(comps.shape[0]), np.abs(comps).argmax(axis=1)])
    proj = centred @ (comps * signs[:, None]).T
    out[:, : proj.shape[1]] = proj
    return out


def tsne_2d(x: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """t-SNE (scikit-learn, PCA init, cosine metric) of (n, d) as float32 (n, 2); PCA for fewer than 5 rows."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[0] < 5:
        return pca_2d(x)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (x.shape[0] - 1) / 3))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", metric="cosine", random_state=seed)
    return tsne.fit_transform(x).astype(np.float32)


_PROJECTORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"pca": pca_2d, "tsne": tsne_2d}


def project(x: np.ndarray, method: str) -> np.ndarray:
    if method not in _PROJECTORS:
        raise UnknownNameError(f"unknown projection {method!r}. Available: {', '.join(_PROJECTORS)}")
    return _PROJECTORS[method](x)


def projection_file(version_dir: Path, space: str, method: str, weights: Weights, *, sample: str = "") -> Path:
    """Where a projection is saved: VERSION/projections/METHOD-SPACE[-weights][-sample].npy (weights to 2 decimals)."""
    tag = f"-{sample}" if sample else ""
    if space == "fused":
        w = weights.as_array()
        w = w / w.sum() if w.sum() > 0 else np.full_like(w, 1 / len(w))
        tag = "-" + "-".join(f"{m[0]}{v:.2f}" for m, v in zip(MODALITIES, w)) + tag
    return Path(version_dir) / "projections" / f"{method}-{space}{tag}.npy"


def is_cached(version_dir: Path, space: str, method: str, weights: Weights, *, sample: str = "") -> bool:
    return method == "pca" or projection_file(version_dir, space, method, weights, sample=sample).is_file()


def projection(embeddings: Mapping[str, np.ndarray], version_dir: Path, space: str, method: str,
               weights: Weights, *, sample: str = "") -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates float32 (n, 2) (NaN where the item lacks the space) and the present mask (n,).

    PCA is computed every time (milliseconds); other methods are read from, or saved to, the store version
    (`sample` names the subset of rows the embeddings are, when they are not all of them).
    """
    x, present = space_matrix(embeddings, space, weights)
    coords = np.full((x.shape[0], 2), np.nan, dtype=np.float32)
    file = projection_file(version_dir, space, method, weights, sample=sample)
    if method != "pca" and file.is_file():
        saved = np.load(file, allow_pickle=False)
        if saved.shape == coords.shape:
            return saved, present
    if present.any():
        coords[present] = project(x[present], method)
    if method != "pca":
        _save(file, coords)
    return coords, present


def _save(file: Path, arr: np.ndarray) -> None:
    """Atomic write; a read-only store just means no cache."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, file)
    except OSError:
        pass


def place_among(coords: np.ndarray, x: np.ndarray, extra: np.ndarray, *, k: int = 5) -> np.ndarray:
    """Map positions (e, 2) for rows not projected: each at the similarity-weighted mean of its k most similar
    projected rows. coords (n, 2) of rows x (n, d); extra (e, d) in the same space; NaN when nothing is near."""
    out = np.full((extra.shape[0], 2), np.nan, dtype=np.float32)
    ok = np.flatnonzero(np.all(np.isfinite(coords), axis=1))
    if not len(ok) or not extra.shape[0]:
        return out
    sims = extra @ x[ok].T
    k = min(k, len(ok))
    near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    for i, nb in enumerate(near):
        w = np.maximum(sims[i, nb], 0.0) + 1e-3
        out[i] = (coords[ok[nb]] * w[:, None]).sum(axis=0) / w.sum()
    return out


def place_near(coords: np.ndarray, rows: Sequence[int], scores: Sequence[float], *, top: int = 5) -> np.ndarray | None:
    """Where to draw a query on a map: the score-weighted mean (2,) of its best `top` rows that have coordinates."""
    pts = [(coords[r], s) for r, s in zip(rows, scores) if np.all(np.isfinite(coords[r]))][:top]
    if not pts:
        return None
    xy = np.stack([p for p, _ in pts])
    w = np.asarray([s for _, s in pts], dtype=np.float64)
    w = w - w.min() + 1e-3  # scores may be negative (cosines); keep every weight positive
    return (xy * w[:, None]).sum(axis=0) / w.sum()


def jaccard(a: Sequence[Any], b: Sequence[Any]) -> float:
    """|A ∩ B| / |A ∪ B| of two result lists (1.0 when both are empty)."""
    sa, sb = set(a), set(b)
    return 1.0 if not sa | sb else len(sa & sb) / len(sa | sb)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two score or rank vectors; nan when either is constant or shorter than 2."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2:
        return float("nan")
    iu = np.triu_indices(x.size, k=1)
    dx = np.sign(x[:, None] - x[None, :])[iu]
    dy = np.sign(y[:, None] - y[None, :])[iu]
    denom = np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    return float((dx * dy).sum() / denom) if denom > 0 else float("nan")


def agreement(orders: Mapping[str, Sequence[int]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise Jaccard@k and Kendall tau between strategies, each (S, S) float64, in `orders` order.

    `orders` holds each strategy's full ranking (rows, best first). Tau compares the two strategies'
    positions of the items in the union of their top-k lists; an item a strategy does not rank at all
    counts as ranked last.
    """
    names = list(orders)
    n = max((len(o) for o in orders.values()), default=0)
    pos = {s: {r: i for i, r in enumerate(orders[s])} for s in names}
    jac = np.eye(len(names))
    tau = np.eye(len(names))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            ta, tb = list(orders[a][:k]), list(orders[b][:k])
            union = list(dict.fromkeys(ta + tb))
            jac[i, j] = jac[j, i] = jaccard(ta, tb)
            tau[i, j] = tau[j, i] = kendall_tau([pos[a].get(r, n) for r in union], [pos[b].get(r, n) for r in union])
    return jac, tau


def contribution_figure(labels: Sequence[str], contributions: Sequence[Mapping[str, float]], *, height: int | None = None):
    """Horizontal stacked bars, one per result (best on top), one segment per part's exact contribution.

    Parts are the modalities first, then any other keys of `contributions` (a blend's models, ...) in order.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    for m in dict.fromkeys([*MODALITIES, *(p for c in contributions for p in c)]):
        values = [float(c.get(m, 0.0)) for c in contributions]
        if not any(values):
            continue
        fig.add_trace(go.Bar(
            y=list(labels), x=values, name=m, orientation="h", marker_color=COLOURS.get(m),
            hovertemplate=f"%{{y}}<br>{m}: %{{x:.4f}}<extra></extra>",
        ))
    fig.update_layout(
        barmode="relative", height=height or 60 + 28 * max(len(labels), 1),
        margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        xaxis_title="contribution to the score", yaxis=dict(autorange="reversed", automargin=True),
    )
    return fig


def map_figure(coords: np.ndarray, present: np.ndarray, titles: Sequence[str], groups: Sequence[str], *,
               highlights: Mapping[str, Sequence[int]] | None = None, points: Mapping[str, np.ndarray | None] | None = None,
               max_groups: int = 12):
    """Scattergl of items coloured by group (the `max_groups` largest, the rest as 'other'), plus highlight layers.

    `highlights` names rows to ring (e.g. 'top-K', 'liked'); `points` names single (2,) positions (e.g. the query).
    """
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    rows = np.flatnonzero(present)
    counts: dict[str, int] = {}
    for r in rows:
        counts[groups[r]] = counts.get(groups[r], 0) + 1
    top = sorted(counts, key=lambda g: (-counts[g], g))[:max_groups]
    palette = qualitative.Plotly + qualitative.Safe
    fig = go.Figure()
    for gi, g in enumerate(top + (["other"] if len(counts) > len(top) else [])):
        sel = [r for r in rows if (groups[r] == g if g in top else groups[r] not in top)]
        fig.add_trace(go.Scattergl(
            x=coords[sel, 0], y=coords[sel, 1], mode="markers", name=f"{g} ({len(sel)})",
            marker=dict(size=7, color=palette[gi % len(palette)] if g != "other" else "#BBBBBB", opacity=0.75),
            text=[titles[r] for r in sel], customdata=[groups[r] for r in sel],
            hovertemplate="%{text}<br>%{customdata}<extra></extra>",
        ))
    styles = {"top-K": ("circle-open", "#000000", 15), "liked": ("star", "#E45756", 15), "disliked": ("x", "#555555", 11)}
    for name, sel in (highlights or {}).items():
        sel = [r for r in sel if present[r]]
        if not sel:
            continue
        symbol, colour, size = styles.get(name, ("diamond-open", "#000000", 13))
        fig.add_trace(go.Scattergl(
            x=coords[sel, 0], y=coords[sel, 1], mode="markers", name=name,
            marker=dict(symbol=symbol, size=size, color=colour, line=dict(width=2, color=colour)),
            text=[titles[r] for r in sel], hovertemplate=f"{name}: %{{text}}<extra></extra>",
        ))
    point_styles = {"query": ("cross", "#D62728"), "profile": ("diamond", "#9467BD")}
    for name, xy in (points or {}).items():
        if xy is None:
            continue
        symbol, colour = point_styles.get(name, ("cross", "#D62728"))
        fig.add_trace(go.Scattergl(
            x=[xy[0]], y=[xy[1]], mode="markers", name=name,
            marker=dict(symbol=symbol, size=18, color=colour, line=dict(width=1, color="white")),
            hovertemplate=f"{name}<extra></extra>",
        ))
    fig.update_layout(height=620, margin=dict(l=10, r=10, t=10, b=10), legend=dict(itemsizing="constant"),
                      xaxis=dict(showticklabels=False, title=None), yaxis=dict(showticklabels=False, title=None))
    return fig


def sweep_figure(rows: Sequence[Mapping[str, float]], metrics: Sequence[str], *, current: float | None = None):
    """Metric curves against alpha (0 = text only, 1 = image only), with the current alpha marked."""
    import plotly.graph_objects as go

    fig = go.Figure()
    alphas = [r["alpha"] for r in rows]
    for m in metrics:
        fig.add_trace(go.Scatter(x=alphas, y=[r[m] for r in rows], mode="lines+markers", name=m))
    if current is not None:
        fig.add_vline(x=current, line_dash="dot", annotation_text=f"current alpha {current:.2f}")
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10), yaxis=dict(range=[0, 1.02], title="score"),
                      xaxis=dict(title="alpha (0 = text only, 1 = image only)"))
    return fig


def matrix_figure(names: Sequence[str], matrix: np.ndarray, *, title: str, zmin: float = -1.0, zmax: float = 1.0):
    """A small annotated heatmap of a (S, S) strategy-by-strategy matrix."""
    import plotly.graph_objects as go

    text = [[("–" if not np.isfinite(v) else f"{v:.2f}") for v in row] for row in matrix]
    fig = go.Figure(go.Heatmap(z=matrix, x=list(names), y=list(names), zmin=zmin, zmax=zmax, colorscale="RdBu",
                               text=text, texttemplate="%{text}", hovertemplate="%{y} vs %{x}: %{text}<extra></extra>"))
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=40, b=10), yaxis=dict(autorange="reversed"))
    return fig


def window_figure(starts: np.ndarray, scores: np.ndarray, window: float, *, height: int = 220):
    """A curve along a clip: each window's similarity with the query sound, at the window's middle (windows overlap)."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=np.asarray(starts) + window / 2, y=np.asarray(scores), mode="lines+markers",
                               fill="tozeroy", line_color=COLOURS.get("audio"),
                               hovertemplate=f"%{{x:.1f}} s (a {window:g} s window)<br>similarity %{{y:.3f}}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="seconds into the clip",
                      yaxis_title="similarity")
    return fig
