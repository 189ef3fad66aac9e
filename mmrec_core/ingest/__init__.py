"""Ingestion: catalog -> per-modality embeddings (cached by content hash, batched, with progress) -> a new store
version, or rows added to one. Where decoding and encoding run is an engine chosen by name (`local`, `ray`).
"""

from __future__ import annotations

from mmrec_core.ingest._cache import EmbeddingCache, content_key, load_seed
from mmrec_core.ingest._engine import InProcess
from mmrec_core.ingest._engines import get_engine
from mmrec_core.ingest._pipeline import SEED_FILE, add, catalog_of_store, ingest
from mmrec_core.ingest._ray import RayEngine, connect

__all__ = ["EmbeddingCache", "InProcess", "RayEngine", "SEED_FILE", "add", "catalog_of_store", "connect",
           "content_key", "get_engine", "ingest", "load_seed"]
