"""Catalogs and media: catalog.csv, a folder or a safe .zip -> Items; images and audio decoded safely; video frames
and soundtracks (the public `video` module). The bottom of the data's path: nothing here knows of encoders or stores.
"""

from __future__ import annotations

from mmrec_core.catalog._load import Catalog, Item, Limits, Problem, category_of, load_catalog, safe_extract
from mmrec_core.catalog._media import AUDIO_SR, load_audio, load_image

__all__ = ["AUDIO_SR", "Catalog", "Item", "Limits", "Problem", "category_of", "load_audio", "load_catalog",
           "load_image", "safe_extract"]
