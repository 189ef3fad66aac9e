"""Evaluation: queries + qrels -> Recall@K, NDCG@K, MRR; and sweeps over alpha.

Queries are encoded once (`encode_queries`); each weight setting only re-ranks, so a sweep
over many alphas costs one encoding pass plus cheap fusion.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from mmrec_core.errors import EvaluationError, MMRecError
from mmrec_core.query import Engine, Query
from mmrec_core.retrieval import Candidates, Weights, ndcg_at_k, precision_at_k, rank, recall_at_k, reciprocal_rank

QUERY_COLUMNS = ("query_id", "text", "image", "audio")


@dataclass(frozen=True)
class EvalQuery:
    query_id: str
    query: Query


def load_queries(path: str | Path) -> list[EvalQuery]:
    """Read query_id,text,image,audio[,video][,items] (media paths relative to the CSV)."""
    path = Path(path)
    rows = _read_csv(path, required=("query_id",))
    out: list[EvalQuery] = []
    for line, row in enumerate(rows, start=2):
        qid = (row.get("query_id") or "").strip()
        if not qid:
            raise EvaluationError(f"{path.name} line {line}: empty query_id")
        audio = (row.get("audio") or "").strip()
        image = (row.get("image") or "").strip()
        video = (row.get("video") or "").strip()
        items = tuple(i for i in (row.get("items") or "").split(";") if i.strip())
        q = Query(text=(row.get("text") or "").strip(), image=path.parent / image if image else None,
                  audio=path.parent / audio if audio else None, items=items,
                  video=path.parent / video if video else None)
        if q.is_empty:
            raise EvaluationError(f"{path.name} line {line}: query {qid!r} has no text, image, audio, video or items")
        out.append(EvalQuery(qid, q))
    return out


def load_qrels(path: str | Path) -> dict[str, dict[str, float]]:
    """Read query_id,item_id[,relevance] -> {query_id: {item_id: relevance}} (relevance defaults to 1)."""
    path = Path(path)
    qrels: dict[str, dict[str, float]] = {}
    for line, row in enumerate(_read_csv(path, required=("query_id", "item_id")), start=2):
        raw = (row.get("relevance") or "1").strip()
        try:
            rel = float(raw)
        except ValueError:
            rel = math.nan
        if not math.isfinite(rel):
            raise EvaluationError(f"{path.name} line {line}: relevance {raw[:40]!r} is not a finite number")
        qid, item = (row.get("query_id") or "").strip(), (row.get("item_id") or "").strip()
        if not qid or not item:
            raise EvaluationError(f"{path.name} line {line}: empty query_id or item_id")
        qrels.setdefault(qid, {})[item] = rel
    return qrels


def _read_csv(path: Path, *, required: Sequence[str]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise EvaluationError(f"{path.name} lacks column(s) {missing}; found {reader.fieldnames}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EvaluationError(f"cannot read {path}: {exc}") from None


def encode_queries(engine: Engine, queries: Iterable[EvalQuery], *, batch: bool = True,
                   progress: Callable[[str, int, int], None] | None = None) -> dict[str, Candidates]:
    """Candidates per query id (encodes every query once; text queries in batches of 64)."""
    queries = list(queries)
    report = progress or (lambda stage, done, total: None)
    out: dict[str, Candidates] = {}
    from mmrec_core.retrieval import QueryVectors

    text_only = [q for q in queries if batch and q.query.text and q.query.image is None and q.query.audio is None and not q.query.items]
    for start in range(0, len(text_only), 64):
        chunk = text_only[start : start + 64]
        vecs = engine.encoders.text.encode([q.query.text for q in chunk])
        for q, v in zip(chunk, vecs):
            out[q.query_id] = engine.candidates(QueryVectors(text=v, image=v))
        report("queries", len(out), len(queries))
    for q in queries:
        if q.query_id not in out:
            report("queries", len(out), len(queries))
            try:
                out[q.query_id] = engine.candidates(q.query)
            except MMRecError as exc:
                raise EvaluationError(f"query {q.query_id!r}: {exc}") from None
    report("queries", len(out), len(queries))
    return out


def score_run(engine: Engine, candidates: dict[str, Candidates], qrels: dict[str, dict[str, float]],
              weights: Weights, *, strategy: str = "weighted", k: int = 10, **params: float) -> dict[str, float]:
    """Mean Recall@1/5/K, Precision@K, NDCG@K and MRR over the queries that have qrels."""
    judged = [qid for qid in candidates if qrels.get(qid)]
    if not judged:
        raise EvaluationError("no query has relevance judgements (check query_id values in the qrels)")
    depth = max(k, 10)
    ids = engine.store.ids
    cuts = sorted({1, 5, k})
    sums = {**{f"recall@{c}": 0.0 for c in cuts}, f"precision@{k}": 0.0, f"ndcg@{k}": 0.0, "mrr": 0.0}
    for qid in judged:
        ranking = rank(candidates[qid], weights, strategy=strategy, k=depth, **params)
        ranked = [ids[r] for r in ranking.rows]
        rel = qrels[qid]
        for c in cuts:
            sums[f"recall@{c}"] += recall_at_k(rel, ranked, c)
        sums[f"precision@{k}"] += precision_at_k(rel, ranked, k)
        sums[f"ndcg@{k}"] += ndcg_at_k(rel, ranked, k)
        sums["mrr"] += reciprocal_rank(rel, ranked)
    result = {name: value / len(judged) for name, value in sums.items()}
    result["n_queries"] = float(len(judged))
    return result


def evaluate(engine: Engine, queries: Sequence[EvalQuery], qrels: dict[str, dict[str, float]], weights: Weights,
             *, strategy: str = "weighted", k: int = 10, **params: float) -> dict[str, float]:
    """Encode the queries once and score one weight setting (with the strategy's parameters, if any)."""
    return score_run(engine, encode_queries(engine, queries), qrels, weights, strategy=strategy, k=k, **params)


def alpha_sweep(engine: Engine, queries: Sequence[EvalQuery], qrels: dict[str, dict[str, float]],
                alphas: Sequence[float], *, strategy: str = "weighted", k: int = 10, audio: float = 0.0,
                candidates: dict[str, Candidates] | None = None) -> list[dict[str, float]]:
    """One metrics row per alpha (text weight 1-alpha, image weight alpha); queries encoded once."""
    cands = candidates if candidates is not None else encode_queries(engine, queries)
    return [{"alpha": float(a), **score_run(engine, cands, qrels, Weights.from_alpha(a, audio=audio),
                                            strategy=strategy, k=k)} for a in alphas]
