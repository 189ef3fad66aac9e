"""Queries against a store: text, an image, a sound, a video, catalog items or any mix -> query vectors ->
candidates -> ranked hits with ids at the edge. Loads the store's own encoders on first use.
"""

from __future__ import annotations

from mmrec_core.query._engine import Engine, FrameMatch, Hit, Query, item_vectors

__all__ = ["Engine", "FrameMatch", "Hit", "Query", "item_vectors"]
