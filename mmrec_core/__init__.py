"""mmrec_core: multimodal catalog ingestion, fusion and retrieval; pure Python, no UI. Map: ARCHITECTURE.md."""

from mmrec_core import _moved

__version__ = "0.3.0"

_moved.install()
