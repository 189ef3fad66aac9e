"""Vectors in, ranked rows out: fusion strategies with exact per-modality contributions, per-modality indexes (exact
scan or FAISS IVF-PQ; Milvus behind the backend seam), candidates rescored exactly, and the ranking metrics.
Works on row indices and knows nothing of stores, files of items, or encoders.
"""

from __future__ import annotations

from mmrec_core.retrieval._backends import backend_of, check_backend, describe, parse_backend
from mmrec_core.retrieval._fusion import (LEARNED_PARAMS, MODALITIES, Weights, fuse, get_strategy, item_weights,
                                          list_strategies, top_k)
from mmrec_core.retrieval._index import AnnIndex, IndexConfig
from mmrec_core.retrieval._metrics import ndcg_at_k, precision_at_k, recall_at_k, reciprocal_rank
from mmrec_core.retrieval._search import Candidates, QueryVectors, Ranking, Retriever, presence, rank

__all__ = ["AnnIndex", "Candidates", "IndexConfig", "LEARNED_PARAMS", "MODALITIES", "QueryVectors", "Ranking",
           "Retriever", "Weights", "backend_of", "check_backend", "describe", "fuse", "get_strategy", "item_weights",
           "list_strategies", "ndcg_at_k", "parse_backend", "precision_at_k", "presence", "rank", "recall_at_k",
           "reciprocal_rank", "top_k"]
