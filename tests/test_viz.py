"""Projections, their disk cache, query placement and ranking agreement, against hand-computed values."""

import numpy as np
import pytest

from mmrec_core.errors import UnknownNameError
from mmrec_core.retrieval import Weights
from mmrec_core.vectors import l2_normalize
from mmrec_core.insight import (agreement, contribution_figure, is_cached, jaccard, kendall_tau, map_figure, pca_2d, place_near, projection, projection_file, space_matrix, sweep_figure)


def embeddings(n=40, seed=0):
    rng = np.random.default_rng(seed)
    emb = {m: l2_normalize(rng.standard_normal((n, d))) for m, d in (("text", 8), ("image", 8), ("audio", 4))}
    emb["audio"][n // 2 :] = 0  # half the items have no sound
    return emb


def test_fused_space_dot_product_is_weighted_cosine():
    emb = embeddings()
    w = Weights(text=0.2, image=0.6, audio=0.2)
    x, present = space_matrix(emb, "fused", w)
    assert x.shape == (40, 20) and present.all()
    want = sum(wm * (emb[m][0] @ emb[m][1]) for m, wm in (("text", 0.2), ("image", 0.6), ("audio", 0.2)))
    assert x[0] @ x[1] == pytest.approx(want, abs=1e-6)
    x, present = space_matrix(emb, "fused", Weights(text=1, image=0, audio=0))
    assert x.shape == (40, 8)
    x, present = space_matrix(emb, "audio", w)
    assert present.sum() == 20
    with pytest.raises(UnknownNameError, match="Available: fused"):
        space_matrix(emb, "smell", w)


def test_pca_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(1).standard_normal((30, 6)) * [5, 3, 1, 1, 1, 1]
    got = pca_2d(x)
    want = PCA(n_components=2).fit_transform(x)
    for j in range(2):
        assert abs(np.corrcoef(got[:, j], want[:, j])[0, 1]) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(np.abs(got), np.abs(want), atol=1e-4)
    assert pca_2d(x[:1]).shape == (1, 2)


def test_projection_cached_on_disk(tmp_path):
    emb = embeddings(n=25)
    w = Weights(0.5, 0.5, 0.0)
    assert is_cached(tmp_path, "audio", "pca", w)
    assert not is_cached(tmp_path, "audio", "tsne", w)
    coords, present = projection(emb, tmp_path, "audio", "tsne", w)
    assert np.isnan(coords[~present]).all() and np.isfinite(coords[present]).all()
    assert projection_file(tmp_path, "audio", "tsne", w).is_file()
    np.save(projection_file(tmp_path, "audio", "tsne", w), np.full((25, 2), 7, np.float32))
    again, _ = projection(emb, tmp_path, "audio", "tsne", w)
    assert (again == 7).all()  # read from disk, not recomputed
    assert projection_file(tmp_path, "fused", "tsne", Weights(1, 1, 0)).name == "tsne-fused-t0.50-i0.50-a0.00.npy"


def test_place_near_weights_positions_by_score():
    coords = np.array([[0, 0], [10, 0], [np.nan, np.nan], [0, 10]], np.float32)
    xy = place_near(coords, [1, 2, 0], [0.9, 0.8, 0.5], top=2)
    # row 2 has no position and is skipped; weights 0.9-0.5+0.001 and 0.001
    assert xy[0] == pytest.approx(10 * 0.401 / 0.402) and xy[1] == pytest.approx(0)
    assert place_near(coords, [2], [1.0]) is None


def test_jaccard_and_kendall_by_hand():
    assert jaccard([1, 2, 3], [2, 3, 4]) == pytest.approx(0.5)
    assert jaccard([], []) == 1.0
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert np.isnan(kendall_tau([1], [1]))


def test_agreement_matrices():
    orders = {"a": [0, 1, 2, 3, 4], "b": [1, 0, 2, 3, 4], "c": [4, 3, 2]}
    jac, tau = agreement(orders, k=2)
    assert jac[0, 1] == 1.0 and jac[0, 2] == 0.0 and np.allclose(np.diag(jac), 1)
    assert tau[0, 1] == pytest.approx(-1.0)  # same two items, swapped
    # a vs c on union {0, 1, 4, 3}: a positions 0,1,4,3; c positions 5,5,0,1 (unranked = last)
    assert tau[0, 2] == pytest.approx(kendall_tau([0, 1, 4, 3], [5, 5, 0, 1]))


def test_figures_build():
    fig = contribution_figure(["1. A", "2. B"], [{"text": 0.2, "image": 0.3, "audio": 0.0}, {"text": 0.4, "image": -0.1}])
    assert [t.name for t in fig.data] == ["text", "image"]  # an all-zero modality is left out
    coords = pca_2d(np.random.default_rng(0).standard_normal((6, 3)))
    fig = map_figure(coords, np.ones(6, bool), list("abcdef"), ["x", "x", "y", "y", "z", "w"],
                     highlights={"top-K": [0, 1]}, points={"query": coords[0]}, max_groups=2)
    assert [t.name for t in fig.data] == ["x (2)", "y (2)", "other (2)", "top-K", "query"]
    assert len(sweep_figure([{"alpha": 0.0, "r": 0.1}, {"alpha": 1.0, "r": 0.2}], ["r"], current=0.5).data) == 1
