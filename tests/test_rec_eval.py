"""Evaluation protocol: splits and metrics on hand-made data with known answers, sweeps, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmrec_core.errors import EvaluationError
from mmrec_core.recs import from_records
from mmrec_core.recs import (alpha_settings, coverage, evaluate_models, novelty, score_model, split_interactions, table, weight_sweep)
from mmrec_core.recs import make_model
from mmrec_core.recs import single_part
from test_recommend import planted_interactions, planted_store

IDS = ["a", "b", "c", "d", "e"]


def hand_made():
    records = [(2, "u1", "a", 1.0, 1.0), (3, "u1", "b", 1.0, 2.0), (4, "u1", "c", 1.0, 3.0),
               (5, "u2", "b", 1.0, 1.0), (6, "u2", "d", 1.0, 5.0), (7, "u2", "a", 1.0, 2.0),
               (8, "u3", "e", 1.0, 1.0)]
    return from_records(records, IDS).interactions


class Fixed:
    """The same scores for everyone: a 0.9, b 0.8, c 0.1, d 0.5, e 0.3."""

    def score(self, history, *, weights=None, mix=None):
        return single_part(np.array([0.9, 0.8, 0.1, 0.5, 0.3]), "fixed")


def test_temporal_split_holds_out_each_users_latest():
    split = split_interactions(hand_made(), how="temporal")
    assert split.test == {0: (2,), 1: (3,)}  # u1 -> c, u2 -> d (latest by time, not by line); u3 has one only
    assert split.train.user_rows(0).tolist() == [0, 1] and split.train.user_rows(1).tolist() == [1, 0]
    assert split.train.user_rows(2).tolist() == [4]


def test_random_split_is_seeded():
    records = [(i, "u", IDS[i], 1.0, float(i)) for i in range(5)]
    inter = from_records(records, IDS).interactions
    a, b = (split_interactions(inter, how="random", holdout=2, seed=7) for _ in range(2))
    assert a.test == b.test and len(a.test[0]) == 2 and len(a.train) == 3
    assert {split_interactions(inter, how="random", holdout=2, seed=s).test[0] for s in range(10)} != {a.test[0]}
    with pytest.raises(EvaluationError, match="unknown split 'future'. Available: temporal, random"):
        split_interactions(inter, how="future")
    with pytest.raises(EvaluationError, match="no user has more than 5"):
        split_interactions(inter, holdout=5)


def test_metrics_on_hand_made_data():
    # u1: history a,b -> ranked d,e,c: c at 3. u2: history b,a -> d at 1.
    row = score_model(Fixed(), split_interactions(hand_made()), k=2)
    assert row["recall@2"] == pytest.approx(0.5)
    assert row["ndcg@2"] == pytest.approx(0.5)
    assert row["mrr"] == pytest.approx((1 / 3 + 1) / 2)
    assert row["coverage@2"] == pytest.approx(2 / 5)  # {d, e}
    assert row["novelty@2"] == pytest.approx(1.5)  # d: -log2(1/4) = 2, e: -log2(2/4) = 1
    assert row["users"] == 2 and row["cold_users"] == 2  # c and d have no training interaction
    assert row["cold_recall@2"] == pytest.approx(0.5)
    assert score_model(Fixed(), split_interactions(hand_made()), k=3)["ndcg@3"] == pytest.approx((0.5 + 1) / 2)


def test_coverage_and_novelty_by_hand():
    assert coverage([[0, 1], [1, 2]], 6) == pytest.approx(0.5)
    assert novelty([[0], [1]], np.array([3, 0]), n_users=3) == pytest.approx((0 + 2) / 2)
    assert novelty([], np.zeros(2), n_users=1) == 0.0
    with pytest.raises(EvaluationError):
        coverage([], 0)
    assert table([{"a": 1 / 3, "b": math.nan, "m": "x"}]) == [{"a": 0.3333, "b": None, "m": "x"}]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    store, _ = planted_store(tmp_path_factory.mktemp("rec_eval") / "s")
    return store, from_records(planted_interactions(), store.ids).interactions


def test_every_model_is_evaluated_reproducibly(planted):
    store, inter = planted
    split = split_interactions(inter, how="random", seed=3)
    names = ["popularity", "itemknn", "content", "hybrid"]
    configs = {"hybrid": {"epochs": 2, "batch_size": 64, "dim": 8}}
    seen = []
    rows = evaluate_models(store, split, names, k=5, configs=configs, progress=lambda *e: seen.append(e))
    assert [r["model"] for r in rows] == names and ("models", 4, 4) in seen
    assert all(r["users"] == 45 and 0 <= r["recall@5"] <= 1 and 0 < r["coverage@5"] <= 1 for r in rows)
    again = evaluate_models(store, split, names, k=5, configs=configs)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "fit_seconds"} for r in rs]  # noqa: E731
    assert strip(again) == strip(rows)


def test_sweep_shows_what_fusion_does_when_only_text_exists(planted, tmp_path):
    store, inter = planted
    split = split_interactions(inter)
    sweep = weight_sweep(make_model("content", store), split, alpha_settings([0.0, 1.0]), k=5)
    assert sweep[0]["weights"] == {"text": 1.0, "image": 0.0, "audio": 0.0}
    assert sweep[0]["coverage@5"] != sweep[1]["coverage@5"]  # image-only never shows the image-less third
    # a text-only catalog: every alpha below 1 ranks alike (weights renormalise over what items have); alpha 1 finds nothing
    text_only, _ = planted_store(tmp_path / "t", text_only=True)
    rows = weight_sweep(make_model("content", text_only), split, alpha_settings([0.0, 0.3, 0.7, 1.0]), k=5)
    assert rows[0]["recall@5"] == rows[1]["recall@5"] == rows[2]["recall@5"] > 0
    assert rows[3]["recall@5"] == 0 and rows[3]["coverage@5"] == 0


def test_cold_item_split_keeps_withdrawn_items_out_of_training(planted):
    store, inter = planted
    split = split_interactions(inter, cold_items=0.2, seed=1)
    counts = split.train.item_counts()
    held = {r for rows in split.test.values() for r in rows}
    cold = {r for r in held if counts[r] == 0}
    assert len(cold) >= 8 and len(split.train) + sum(map(len, split.test.values())) <= len(inter)
    pop, content = (make_model(n, store) for n in ("popularity", "content"))
    pop.fit(split.train)
    rows = {n: score_model(m, split, k=10) for n, m in (("popularity", pop), ("content", content))}
    assert rows["popularity"]["cold_users"] == rows["content"]["cold_users"] > 20
    assert rows["content"]["cold_recall@10"] > rows["popularity"]["cold_recall@10"] + 0.2
