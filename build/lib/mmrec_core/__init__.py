"""mmrec_core: multimodal catalog ingestion, fusion and retrieval; pure Python, no UI."""

__version__ = "0.1.0"
