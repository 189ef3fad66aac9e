"""Recommenders on one store, in a registry: popularity, itemknn, content, hybrid (the default) and blend.

Every model scores a catalog from a user's `History` alone (rows liked, uploads), so likes act at
once; `fit` on interactions is the explicit, slower step. torch loads only inside Hybrid.fit.
"""

from mmrec_core.recs._models import baselines, blend, content, hybrid  # noqa: F401  (registration)
from mmrec_core.recs._models.base import (History, Model, ModelError, Scored, get_model, list_models, make_model,
                                          recency_weights)
from mmrec_core.recs._models.baselines import ItemKNNConfig, PopularityConfig
from mmrec_core.recs._models.blend import BlendConfig, parse_mix
from mmrec_core.recs._models.content import ContentConfig
from mmrec_core.recs._models.hybrid import HybridConfig

DEFAULT_MODEL = "hybrid"

__all__ = ["DEFAULT_MODEL", "BlendConfig", "ContentConfig", "History", "HybridConfig", "ItemKNNConfig", "Model",
           "ModelError", "PopularityConfig", "Scored", "get_model", "list_models", "make_model", "parse_mix",
           "recency_weights"]
