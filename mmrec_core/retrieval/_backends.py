"""Index backends, chosen by a name or a URI: `faiss` (embedded, the default) or Milvus (`milvus`, `milvus://...`).

A backend proposes candidate rows per modality, takes added and removed rows, and persists them;
exact rescoring, contributions and fusion stay in mmrec (_search.py), the same for every backend.
The FAISS backend keeps its files in the store's version folders and is recorded by absence (stores
written before backends existed read as they are); another backend is a record in the manifest,
`manifest["index"]["backend"]`, e.g. {"name": "milvus", "uri": "lite", "collection": "mmrec"}.
"""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import urlparse

from mmrec_core.errors import UnknownNameError

BACKENDS = {
    "faiss": "embedded FAISS indexes in the store's folder (default)",
    "milvus": "a Milvus Lite database inside the store (one machine)",
    "milvus://HOST:PORT[/COLLECTION]": "a Milvus standalone or cluster server",
}
DEFAULT_COLLECTION = "mmrec"


def parse_backend(spec: str, *, store_name: str = "") -> dict[str, Any] | None:
    """The manifest record for a backend spec: None for faiss, a dict for Milvus; UnknownNameError otherwise."""
    spec = (spec or "faiss").strip()
    if spec == "faiss":
        return None
    if spec == "milvus":
        return {"name": "milvus", "uri": "lite", "collection": DEFAULT_COLLECTION}
    url = urlparse(spec)
    if url.scheme == "milvus" and url.hostname and url.port:
        given = url.path.strip("/")
        default = re.sub(r"\W", "_", f"mmrec_{store_name}" if store_name else DEFAULT_COLLECTION)
        collection = given or default
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", collection):
            raise UnknownNameError(f"index {spec!r}: collection {collection!r} must be letters, digits and _ "
                                   "(not starting with a digit)")
        return {"name": "milvus", "uri": f"http://{url.hostname}:{url.port}", "collection": collection}
    raise UnknownNameError(f"unknown index backend {spec!r}. Available: {', '.join(BACKENDS)}")


def backend_of(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """A store version's backend record (None: FAISS)."""
    return manifest.get("index", {}).get("backend")


def describe(record: Mapping[str, Any] | None) -> str:
    """'faiss', 'milvus (lite)' or 'milvus http://host:port/collection', for reports."""
    if record is None:
        return "faiss"
    where = "lite" if record["uri"] == "lite" else f"{record['uri']}/{record['collection']}"
    return f"milvus ({where})"


def check_backend(spec: str, *, store_name: str = "") -> dict[str, Any] | None:
    """parse_backend, and fail now (before any encoding) when the backend's client is not installed."""
    record = parse_backend(spec, store_name=store_name)
    if record is not None:
        from mmrec_core.retrieval.milvus import require

        require()
    return record
