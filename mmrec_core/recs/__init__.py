"""Recommendation built on retrieval: a user's taste profile (likes, dislikes, uploads) and cold start, interactions,
recommendation models (a registry: popularity, itemknn, content, hybrid, blend), their evaluation, what a store keeps
of them, and public data sets (MovieLens 100K).
"""

from __future__ import annotations

from mmrec_core.recs._datasets import ML100K_STORE, build_ml100k, ml100k_dir
from mmrec_core.recs._evaluate import (SPLITS, alpha_settings, coverage, evaluate_models, novelty, paired_interval,
                                       score_model, split_interactions, table, validation_split, weight_sweep)
from mmrec_core.recs._interactions import (InteractionsError, LoadReport, from_records, load_interactions, parse_time,
                                           write_interactions)
from mmrec_core.recs._models import (DEFAULT_MODEL, History, ModelError, Scored, get_model, list_models, make_model,
                                     parse_mix)
from mmrec_core.recs._models.base import single_part
from mmrec_core.recs._profile import (COLD_START_EXPLANATION, Profile, Upload, add_upload, because, cold_start, dislike,
                                      forget, like, profile_vectors, remove_upload)
from mmrec_core.recs._recommend import RecEngine, history_from_profile, load_model, save_model
from mmrec_core.recs._store import (EVAL_MODELS, INTERACTIONS_FILE, attach_interactions, bad_rows_table,
                                    cold_start_explanation, evaluate, fit_order, hybrid_configs, interactions_path,
                                    learned_weights, load_store_interactions, models_stamp, result_tables,
                                    score_explanation, train, trained_models)

__all__ = ["COLD_START_EXPLANATION", "DEFAULT_MODEL", "EVAL_MODELS", "History", "INTERACTIONS_FILE",
           "InteractionsError", "LoadReport", "ML100K_STORE", "ModelError", "Profile", "RecEngine", "SPLITS",
           "Scored", "Upload", "add_upload", "alpha_settings", "attach_interactions", "bad_rows_table", "because",
           "build_ml100k", "cold_start", "cold_start_explanation", "coverage", "dislike", "evaluate",
           "evaluate_models", "fit_order", "forget", "from_records", "get_model", "history_from_profile",
           "hybrid_configs", "interactions_path", "learned_weights", "like", "list_models", "load_interactions",
           "load_model", "load_store_interactions", "make_model", "ml100k_dir", "models_stamp", "novelty",
           "paired_interval", "parse_mix", "parse_time", "profile_vectors", "remove_upload", "result_tables",
           "save_model", "score_explanation", "score_model", "single_part", "split_interactions", "table", "train",
           "trained_models", "validation_split", "weight_sweep", "write_interactions"]
