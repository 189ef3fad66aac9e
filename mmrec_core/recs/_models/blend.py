"""Late fusion of models: each model's scores min-max normalised over the user's candidates, then weighted.

Like the modalities in `fusion.late`: contributions are w_m · normalised score_m with the weights
renormalised to sum to one, so each model's share of a score is exact (they sum to the score).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from mmrec_core.recs._interactions import Interactions
from mmrec_core.recs._models.base import History, ModelError, Progress, Scored, make_model, no_progress, register_model
from mmrec_core.retrieval import Weights
from mmrec_core.store import Store

DEFAULT_MIX = {"popularity": 0.1, "itemknn": 0.3, "content": 0.2, "hybrid": 0.4}


@dataclass(frozen=True)
class BlendConfig:
    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    configs: Mapping[str, Mapping] = field(default_factory=dict)  # per model: options of its config


@register_model("blend", "late fusion of the other models' scores with user-set weights; contributions per model")
class Blend:
    name = "blend"
    config_class = BlendConfig

    def __init__(self, store: Store, config: BlendConfig = BlendConfig()) -> None:
        check_mix(config.mix)
        self.store, self.config = store, config
        if "blend" in config.mix:
            raise ModelError("a blend cannot contain a blend")
        self.models = {name: make_model(name, store, config.configs.get(name, {})) for name in config.mix}

    @classmethod
    def of(cls, store: Store, fitted: Mapping[str, object], mix: Mapping[str, float] | None = None) -> "Blend":
        """A blend of models already fitted on one store's interactions (nothing is refit); mix defaults to DEFAULT_MIX's.

        The config records each part's config, so a saved blend loads back the same parts.
        """
        from mmrec_core.recs._models.base import config_to_dict

        mix = dict(mix) if mix is not None else {n: DEFAULT_MIX.get(n, 1.0) for n in fitted}
        if set(mix) != set(fitted):
            raise ModelError(f"blend weights name {sorted(mix)}, the fitted models are {sorted(fitted)}")
        blend = cls(store, BlendConfig(mix=mix, configs={n: config_to_dict(m.config) for n, m in fitted.items()}))
        blend.models = dict(fitted)
        return blend

    def fit(self, train: Interactions, *, progress: Progress = no_progress) -> None:
        for i, (name, model) in enumerate(self.models.items()):
            model.fit(train, progress=lambda stage, done, total, name=name: progress(f"{name}:{stage}", done, total))
            progress("models", i + 1, len(self.models))

    def score(self, history: History, *, weights: Weights | None = None,
              mix: Mapping[str, float] | None = None) -> Scored:
        mix = dict(self.config.mix if mix is None else mix)
        check_mix(mix, known=self.models)
        n = len(self.store.items)
        names = [m for m in self.models if mix.get(m, 0) > 0]
        total = sum(mix[m] for m in names)
        candidate = np.ones(n, bool)
        candidate[list(history.rows)] = False  # normalise over what can be recommended
        normed = np.zeros((n, len(self.models)), np.float32)
        valid = np.zeros(n, bool)
        for j, name in enumerate(self.models):
            if name not in names:
                continue
            s = self.models[name].score(history, weights=weights)
            ok = s.valid & candidate
            if ok.any():
                lo, span = float(s.scores[ok].min()), float(np.ptp(s.scores[ok]))
                # a model whose scores are all alike here has nothing to say (item-kNN without likes): it adds 0,
                # not its whole weight, so the split shows only the models that ranked anything
                col = (s.scores - lo) / span if span > 0 else np.zeros(n, np.float32)
                normed[:, j] = np.where(s.valid, col, 0.0) * (mix[name] / total)
                valid |= s.valid
        contributions = normed
        return Scored(contributions.sum(axis=1), valid, tuple(self.models),
                      lambda rows: contributions[np.asarray(rows, dtype=np.int64)])

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"{name}.{key}": arr for name, m in self.models.items() for key, arr in m.arrays().items()}

    def load_arrays(self, arrays: Mapping[str, np.ndarray], old_to_new: np.ndarray, train: Interactions) -> None:
        for name, model in self.models.items():
            prefix = f"{name}."
            model.load_arrays({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}, old_to_new, train)


def check_mix(mix: Mapping[str, float], *, known: Mapping | None = None) -> None:
    """Weights per model: finite, >= 0, some > 0, and (given `known`) only models in the blend."""
    for name, value in mix.items():
        if not np.isfinite(value) or value < 0:
            raise ModelError(f"model weight {name}={value!r} must be a finite number >= 0")
        if known is not None and name not in known:
            raise ModelError(f"model {name!r} is not in this blend; it holds {', '.join(known)}")
    if not any(v > 0 for v in mix.values()):
        raise ModelError(f"the model weights {dict(mix)} give nothing any weight: set one above 0")


def parse_mix(spec: str) -> dict[str, float]:
    """'hybrid=0.6,itemknn=0.4' -> {'hybrid': 0.6, 'itemknn': 0.4}."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, raw = part.partition("=")
        try:
            if not sep:
                raise ValueError(part)
            out[name.strip()] = float(raw)
        except ValueError:
            raise ModelError(f"bad model weight {part!r}: expected NAME=NUMBER, e.g. hybrid=0.6,itemknn=0.4") from None
    return out
