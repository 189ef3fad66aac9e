import math

import pytest

from mmrec_core.errors import EvaluationError
from mmrec_core.retrieval import ndcg_at_k, precision_at_k, recall_at_k, reciprocal_rank

RANKED = ["a", "b", "c", "d", "e"]


def test_recall():
    assert recall_at_k({"b", "e", "z"}, RANKED, 2) == pytest.approx(1 / 3)
    assert recall_at_k({"b", "e", "z"}, RANKED, 5) == pytest.approx(2 / 3)
    assert recall_at_k(set(), RANKED, 5) == 0.0


def test_precision():
    assert precision_at_k({"a", "c"}, RANKED, 4) == 0.5


def test_ndcg_binary_and_graded():
    # relevant at ranks 2 and 3: dcg = 1/log2(3) + 1/log2(4); ideal = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert ndcg_at_k({"b", "c"}, RANKED, 5) == pytest.approx(expected)
    graded = {"a": 1.0, "b": 3.0}
    exp = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert ndcg_at_k(graded, RANKED, 5) == pytest.approx(exp)
    assert ndcg_at_k({"a"}, RANKED, 1) == 1.0


def test_reciprocal_rank():
    assert reciprocal_rank({"c"}, RANKED) == pytest.approx(1 / 3)
    assert reciprocal_rank({"c"}, RANKED, k=2) == 0.0
    assert reciprocal_rank({"z"}, RANKED) == 0.0


def test_bad_k():
    with pytest.raises(EvaluationError, match="k=0"):
        recall_at_k({"a"}, RANKED, 0)


def test_score_run_on_hand_made_candidates():
    """Two queries over four items with known similarities: metrics by hand."""
    import numpy as np

    from mmrec_core.insight import score_run
    from mmrec_core.retrieval import Weights
    from mmrec_core.retrieval import Candidates

    class FakeStore:
        ids = ["a", "b", "c", "d"]

    class FakeEngine:
        store = FakeStore()

    avail = np.array([[True, True, False]] * 4)
    c1 = Candidates(np.arange(4), np.array([[0.9, 0, 0], [0.5, 0, 0], [0.7, 0, 0], [0.1, 0, 0]], np.float32), avail)
    c2 = Candidates(np.arange(4), np.array([[0, 0.2, 0], [0, 0.8, 0], [0, 0.1, 0], [0, 0.9, 0]], np.float32), avail)
    qrels = {"q1": {"c": 1.0}, "q2": {"b": 1.0}}
    out = score_run(FakeEngine(), {"q1": c1, "q2": c2}, qrels, Weights(0.5, 0.5, 0), k=5)
    # q1 ranking a, c, b, d -> c at rank 2; q2 ranking d, b, a, c -> b at rank 2
    assert out["recall@1"] == 0.0 and out["recall@5"] == 1.0
    assert out["mrr"] == pytest.approx(0.5)
    assert out["ndcg@5"] == pytest.approx(1 / math.log2(3))
    assert out["precision@5"] == pytest.approx(0.2)
