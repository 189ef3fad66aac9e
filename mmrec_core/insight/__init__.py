"""What explains and measures retrieval: evaluation over queries + qrels, fitting the fusion weights (and a profile's),
Why explanations (words, picture regions, seconds of a clip), 2-D maps and ranking comparisons, browsing at scale.
"""

from __future__ import annotations

from mmrec_core.insight._browse import MAP_SAMPLE, facets, item_title, map_view, title
from mmrec_core.insight._evaluate import alpha_sweep, encode_queries, evaluate, load_qrels, load_queries, score_run
from mmrec_core.insight._explain import ImageMap, WordWeights, explain_item, overlay
from mmrec_core.insight._tune import DEFAULT_TEMPERATURE, MIN_DISLIKES, MIN_LIKES, fit, fit_profile
from mmrec_core.insight._tune_learned import fit_learned
from mmrec_core.insight._tune_score import parse_metric, per_query, prepare
from mmrec_core.insight._viz import (METHODS, SPACES, agreement, contribution_figure, is_cached, jaccard, kendall_tau,
                                     map_figure, matrix_figure, pca_2d, place_near, projection, projection_file,
                                     space_matrix, sweep_figure, window_figure)

__all__ = ["DEFAULT_TEMPERATURE", "ImageMap", "MAP_SAMPLE", "METHODS", "MIN_DISLIKES", "MIN_LIKES", "SPACES",
           "WordWeights", "agreement", "alpha_sweep", "contribution_figure", "encode_queries", "evaluate",
           "explain_item", "facets", "fit", "fit_learned", "fit_profile", "is_cached", "item_title", "jaccard",
           "kendall_tau", "load_qrels", "load_queries", "map_figure", "map_view", "matrix_figure", "overlay",
           "parse_metric", "pca_2d", "per_query", "place_near", "prepare", "projection", "projection_file",
           "score_run", "space_matrix", "sweep_figure", "title", "window_figure"]
