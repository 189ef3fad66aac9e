"""Fitting fusion weights (mmrec_core.tune) on planted candidates, against the metrics and rank() computed directly."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mmrec_core.errors import EvaluationError
from mmrec_core.retrieval import Weights
from mmrec_core.retrieval import ndcg_at_k, precision_at_k, recall_at_k, reciprocal_rank
from mmrec_core.retrieval import Candidates, rank
from mmrec_core.insight import _tune as tune
from mmrec_core.insight import _tune_learned as learn
from mmrec_core.insight import _tune_score as score


def planted(n_queries: int = 120, n_items: int = 60, *, mix: bool, seed: int = 0):
    """Queries whose relevant item is best found by text+image together (mix) or by image alone."""
    rng = np.random.default_rng(seed)
    ids = [f"i{r}" for r in range(n_items)]
    cands, qrels = {}, {}
    for q in range(n_queries):
        sims = rng.uniform(0.0, 0.5, (n_items, 3)).astype(np.float32)
        target = int(rng.integers(n_items))
        if mix:  # the target is good in both; decoys are excellent in one modality only
            sims[target, :2] = rng.uniform(0.55, 0.65, 2)
            for decoy, m in zip(rng.choice([r for r in range(n_items) if r != target], 6, replace=False), [0, 1] * 3):
                sims[decoy, m] = rng.uniform(0.7, 0.9)
        else:
            sims[target, 1] = rng.uniform(0.55, 0.8)
        sims[:, 2] = 0.0
        avail = np.ones_like(sims, bool)
        avail[:, 2] = False  # the queries have no audio
        cands[f"q{q}"] = Candidates(np.arange(n_items), sims, avail)
        qrels[f"q{q}"] = {ids[target]: 1.0}
    return ids, cands, qrels


def direct(ids, cands, qrels, weights, *, strategy="weighted", k=10, temperature=None):
    """The metrics the slow way: rank() then the metric functions on item ids."""
    params = {"temperature": temperature} if temperature else {}
    out = {"ndcg": [], "recall": [], "precision": [], "mrr": []}
    for qid, c in cands.items():
        ranked = [ids[r] for r in rank(c, weights, strategy=strategy, k=max(k, 10), **params).rows]
        out["ndcg"].append(ndcg_at_k(qrels[qid], ranked, k))
        out["recall"].append(recall_at_k(qrels[qid], ranked, k))
        out["precision"].append(precision_at_k(qrels[qid], ranked, k))
        out["mrr"].append(reciprocal_rank(qrels[qid], ranked))
    return {m: np.array(v) for m, v in out.items()}


@pytest.mark.parametrize("strategy", ["weighted", "late", "max", "attention", "rrf"])
def test_per_query_metrics_equal_rank_and_the_metric_functions(strategy):
    ids, cands, qrels = planted(40, 30, mix=True, seed=3)
    judged = score.prepare(ids, cands, qrels, k=5)
    w = Weights(0.3, 0.6, 0.1)
    temperature = 0.1 if strategy == "attention" else None
    want = direct(ids, cands, qrels, w, strategy=strategy, k=5, temperature=temperature)
    for metric in score.METRICS:
        got = score.per_query(judged, w.as_array(), strategy=strategy, metric=metric, k=5, temperature=temperature)
        np.testing.assert_allclose(got, want[metric], atol=1e-9)
        if strategy in score.ROW_WISE:  # the batched path gives the same values
            batched = score.Batch(judged).metric(strategy, w.as_array(), metric=metric, k=5, temperature=temperature)
            np.testing.assert_allclose(batched, want[metric], atol=1e-9)


def test_a_planted_mix_is_found_and_beats_each_modality_held_out():
    ids, cands, qrels = planted(mix=True)
    result = tune.fit(score.prepare(ids, cands, qrels, k=10), strategy="weighted", metric="ndcg@10", folds=5)
    w = result.weights
    assert 0.3 <= w.text / (w.text + w.image) <= 0.7 and w.audio == 0.0
    assert result.heldout > max(result.per_modality.values()) + 0.1
    assert set(result.per_modality) == {"text", "image"}  # audio can match nothing: no weight to fit
    assert result.heldout <= result.insample + 1e-9 and len(result.folds) == 5


def test_one_good_modality_is_chosen_alone_and_never_loses_held_out():
    ids, cands, qrels = planted(mix=False)
    result = tune.fit(score.prepare(ids, cands, qrels, k=10), strategy="weighted", metric="mrr", folds=4)
    assert result.weights == Weights(0.0, 1.0, 0.0)
    assert result.heldout >= max(result.per_modality.values()) - 1e-9
    assert result.heldout > result.default


def test_attention_fits_its_temperature_and_rejects_bad_input():
    ids, cands, qrels = planted(60, 30, mix=True, seed=1)
    judged = score.prepare(ids, cands, qrels, k=10)
    result = tune.fit(judged, strategy="attention", folds=3)
    assert result.temperature is not None and result.temperature > 0
    assert tune.fit(judged, strategy="attention", folds=3, tune_temperature=False).temperature == tune.DEFAULT_TEMPERATURE
    with pytest.raises(EvaluationError, match="unknown metric 'auc'"):
        score.parse_metric("auc")
    with pytest.raises(EvaluationError, match="folds=1"):
        tune.fit(judged, folds=1)
    with pytest.raises(EvaluationError, match="no query has relevance judgements"):
        score.prepare(ids, cands, {}, k=10)
    assert score.parse_metric("recall@5") == ("recall", 5) and score.parse_metric("mrr") == ("mrr", 10)


def test_simplex_grid_covers_the_active_modalities_only():
    grid = tune.simplex_grid([0, 1], 0.25)
    assert len(grid) == 5 and all(g[2] == 0 and abs(g.sum() - 1) < 1e-12 for g in grid)
    assert len(tune.simplex_grid([0, 1, 2], 0.1)) == 66


def test_cli_tune_json_gives_weights_that_evaluate_accepts(tiny_store, tmp_path):
    store = tiny_store.store.path
    queries, qrels = tmp_path / "q.csv", tmp_path / "r.csv"
    queries.write_text("query_id,text\nq1,a round red ball\nq2,a blue square box\nq3,the sound of rain\nq4,a green ball\n")
    qrels.write_text("query_id,item_id\nq1,red\nq2,blue\nq3,rain\nq4,green\n")

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "mmrec_core", *map(str, args)], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
        return out.stdout

    result = json.loads(cli("tune", "--store", store, "--queries", queries, "--qrels", qrels, "--folds", "2", "--json"))
    assert {"fusion", "weights", "heldout", "default", "per_modality"} <= set(result)
    assert set(result["weights"]) == {"text", "image", "audio"}
    spec = ",".join(f"{m}={v}" for m, v in result["weights"].items())
    ev = json.loads(cli("evaluate", "--store", store, "--queries", queries, "--qrels", qrels, "--weights", spec))
    assert ev["ndcg@10"] == pytest.approx(result["insample"], abs=1e-6)
    both = json.loads(cli("tune", "--store", store, "--queries", queries, "--qrels", qrels, "--folds", "2",
                          "--fusion", "all", "--json"))
    assert sorted(r["fusion"] for r in both) == ["attention", "late", "learned", "max", "rrf", "weighted"]
    learned = next(r for r in both if r["fusion"] == "learned")
    spec = ",".join(f"{m}={v}" for m, v in learned["weights"].items())
    params = ",".join(f"{n}={v}" for n, v in learned["params"].items())
    ev = json.loads(cli("evaluate", "--store", store, "--queries", queries, "--qrels", qrels, "--weights", spec,
                        "--fusion", "learned", "--params", params))
    assert ev["ndcg@10"] == pytest.approx(learned["insample"], abs=1e-3)  # params printed to 4 decimals


def test_profile_weights_follow_the_modality_that_separates_likes_from_dislikes():
    from pathlib import Path

    from mmrec_core.store import Store
    from mmrec_core.vectors import l2_normalize

    rng = np.random.default_rng(0)
    n, d = 12, 16
    image_centre = l2_normalize(rng.standard_normal((1, d)))
    image = l2_normalize(np.r_[image_centre + 0.3 * rng.standard_normal((6, d)),  # liked: one look
                               rng.standard_normal((6, d))]).astype(np.float32)   # disliked: anything
    text = l2_normalize(rng.standard_normal((n, d))).astype(np.float32)  # text says nothing about taste
    audio = np.zeros((n, 4), np.float32)
    items = [{"id": f"i{r}", "title": str(r)} for r in range(n)]
    store = Store(Path("."), "v000001", {}, items, {"text": text, "image": image, "audio": audio}, scaler=None)
    liked, disliked = [f"i{r}" for r in range(6)], [f"i{r}" for r in range(6, 12)]
    result = tune.fit_profile(store, liked, disliked, current=Weights(0.5, 0.5, 0.5))
    assert result.dominant == "image" and result.weights.image >= 0.8 and result.weights.audio == 0
    assert result.auc > 0.9 and result.auc > result.current_auc
    assert (result.n_liked, result.n_disliked) == (6, 6)
    assert tune.fit_profile(store, liked[:2], disliked, current=Weights()) is None  # too few likes to fit


def confident_one(n_queries: int = 90, n_items: int = 40, seed: int = 0):
    """Each target is very similar in one modality (text or image, at random) and unlike in the other; decoys
    are fairly similar in both. A fixed weighted average prefers the decoys; query-dependent attention does not."""
    rng = np.random.default_rng(seed)
    ids = [f"i{r}" for r in range(n_items)]
    cands, qrels = {}, {}
    for q in range(n_queries):
        sims = rng.uniform(0.0, 0.3, (n_items, 3)).astype(np.float32)
        decoys = rng.choice(n_items, 8, replace=False)
        sims[decoys, :2] = rng.uniform(0.55, 0.65, (8, 2))
        target = int(rng.choice([r for r in range(n_items) if r not in decoys]))
        strong = int(rng.integers(2))
        sims[target, strong], sims[target, 1 - strong] = rng.uniform(0.8, 0.9), rng.uniform(0.25, 0.35)
        sims[:, 2] = 0.0
        avail = np.ones_like(sims, bool)
        avail[:, 2] = False
        cands[f"q{q}"], qrels[f"q{q}"] = Candidates(np.arange(n_items), sims, avail), {ids[target]: 1.0}
    return ids, cands, qrels


def test_learned_attention_beats_fixed_weights_where_confidence_decides_and_its_params_round_trip():
    ids, cands, qrels = confident_one()
    judged = score.prepare(ids, cands, qrels, k=10)
    learned = learn.fit_learned(judged, metric="mrr", folds=3)
    weighted = tune.fit(judged, strategy="weighted", metric="mrr", folds=3)
    assert learned.heldout > weighted.heldout + 0.2
    assert set(learned.params) == {f"{k}_{m}" for k in ("scale", "bias") for m in ("text", "image", "audio")}
    want = direct(ids, cands, qrels, learned.weights, strategy="learned", k=10, temperature=None)
    got = score.per_query(judged, learned.weights.as_array(), strategy="learned", metric="mrr", k=10, params=learned.params)
    # the strategy's own scores (through rank) agree with the tuner's
    ranked_mrr = np.array([reciprocal_rank(qrels[q], [ids[r] for r in rank(c, learned.weights, strategy="learned", k=10,
                                                                              **learned.params).rows]) for q, c in cands.items()])
    np.testing.assert_allclose(got, ranked_mrr, atol=1e-9)
    assert want["mrr"].shape == got.shape
    with pytest.raises(Exception, match="no parameter"):
        rank(next(iter(cands.values())), Weights(), strategy="learned", k=3, temperature=0.1)
