import numpy as np
import pytest

from mmrec_core.errors import FusionError, UnknownNameError
from mmrec_core.retrieval import MODALITIES, Weights, fuse, item_weights, list_strategies, top_k

rng = np.random.default_rng(7)
SIMS = rng.uniform(-0.2, 0.9, size=(50, 3))
AVAIL = rng.random((50, 3)) > 0.25


@pytest.mark.parametrize("strategy", sorted(list_strategies()))
def test_contributions_sum_to_score(strategy):
    f = fuse(SIMS, AVAIL, Weights(0.2, 0.5, 0.3), strategy=strategy)
    np.testing.assert_allclose(f.contributions.sum(axis=1), f.scores, atol=1e-5)
    assert np.all(f.contributions[~AVAIL] == 0)


def test_alpha_extremes_reduce_to_single_modality():
    avail = np.ones((50, 3), bool)
    np.testing.assert_allclose(fuse(SIMS, avail, Weights.from_alpha(0.0, audio=0)).scores, SIMS[:, 0], atol=1e-6)
    np.testing.assert_allclose(fuse(SIMS, avail, Weights.from_alpha(1.0, audio=0)).scores, SIMS[:, 1], atol=1e-6)


def test_alpha_is_the_seed_formula():
    avail = np.ones((50, 3), bool)
    a = 0.3
    f = fuse(SIMS, avail, Weights.from_alpha(a, audio=0))
    np.testing.assert_allclose(f.scores, (1 - a) * SIMS[:, 0] + a * SIMS[:, 1], atol=1e-6)


def test_missing_modality_renormalises():
    sims = np.array([[0.8, 0.4, 0.0], [0.8, 0.0, 0.0]])
    avail = np.array([[True, True, False], [True, False, False]])
    f = fuse(sims, avail, Weights(0.25, 0.75, 1.0))
    np.testing.assert_allclose(f.scores, [0.25 * 0.8 + 0.75 * 0.4, 0.8])
    np.testing.assert_allclose(item_weights(avail, np.array([0.25, 0.75, 1.0])).sum(axis=1), [1, 1])


def test_item_without_any_available_modality_is_invalid():
    f = fuse(np.ones((2, 3)), np.array([[False] * 3, [True, False, False]]), Weights())
    assert f.valid.tolist() == [False, True]
    assert top_k(f.scores, f.valid, 5).tolist() == [1]


def test_max_pooling_picks_best_weighted_modality():
    sims = np.array([[0.2, 0.9, 0.1], [0.7, 0.1, 0.0]])
    f = fuse(sims, np.ones((2, 3), bool), Weights(1.0, 0.5, 0.0), strategy="max")
    np.testing.assert_allclose(f.scores, [0.45, 0.7])
    np.testing.assert_allclose(f.contributions[0], [0.0, 0.45, 0.0], atol=1e-6)


def test_attention_hand_computed():
    sims = np.array([[0.5, 0.1, 0.0]])
    f = fuse(sims, np.array([[True, True, False]]), Weights(1, 1, 1), strategy="attention", temperature=0.2)
    a = np.exp([0.5 / 0.2, 0.1 / 0.2])
    a /= a.sum()
    np.testing.assert_allclose(f.scores, [a[0] * 0.5 + a[1] * 0.1])


def test_rrf_hand_computed():
    sims = np.array([[0.9, 0.1, 0], [0.5, 0.8, 0], [0.1, 0.5, 0]])
    f = fuse(sims, np.array([[True, True, False]] * 3), Weights(1, 1, 0), strategy="rrf", k=1)
    # ranks text: 1,2,3; image: 3,1,2; weights 0.5 each
    np.testing.assert_allclose(f.scores, [0.5 / 2 + 0.5 / 4, 0.5 / 3 + 0.5 / 2, 0.5 / 4 + 0.5 / 3])


def test_late_fusion_min_max():
    sims = np.array([[0.2, 0.5, 0], [0.4, 0.3, 0], [0.6, 0.1, 0]])
    f = fuse(sims, np.array([[True, True, False]] * 3), Weights(1, 1, 0), strategy="late")
    np.testing.assert_allclose(f.scores, [0.5 * 0 + 0.5 * 1, 0.5 * 0.5 + 0.5 * 0.5, 0.5 * 1 + 0.5 * 0])


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(UnknownNameError, match="Available: .*weighted"):
        fuse(SIMS, AVAIL, Weights(), strategy="nope")
    with pytest.raises(FusionError, match="alpha=1.5"):
        Weights.from_alpha(1.5)
    with pytest.raises(FusionError, match="weight text=-1"):
        Weights(text=-1)
    with pytest.raises(FusionError, match="bad weight 'colour=1'"):
        Weights.parse("text=1,colour=1")
    with pytest.raises(FusionError, match=r"must both be \(n, 3\)"):
        fuse(SIMS[:, :2], AVAIL[:, :2], Weights())
    with pytest.raises(FusionError, match="temperature"):
        fuse(SIMS, AVAIL, Weights(), strategy="attention", temperature=0)


def test_weights_parse_and_top_k_order():
    assert Weights.parse("text=0.3, image=0.7").as_dict() == {"text": 0.3, "image": 0.7, "audio": 0.0}
    scores = np.array([0.1, 0.9, 0.5, 0.9])
    assert top_k(scores, np.ones(4, bool), 3).tolist() == [1, 3, 2]
    assert MODALITIES == ("text", "image", "audio")
