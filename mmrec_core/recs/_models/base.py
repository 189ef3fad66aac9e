"""What every recommender shares: user histories, scored catalogs, config (de)serialisation and the registry."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from mmrec_core.errors import EvaluationError, UnknownNameError
from mmrec_core.recs._interactions import Interactions
from mmrec_core.retrieval import QueryVectors, Weights

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total), called as training advances."""


class ModelError(EvaluationError):
    """A model that cannot be trained, loaded or asked (not trained yet, wrong store, bad config)."""


def no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class History:
    """One user's positives on a store, oldest first: store rows, plus uploaded media (cold start).

    Immutable: `like` returns a new history, and every model scores from the history alone, so a
    like changes the recommendations at once, without retraining.
    """

    rows: tuple[int, ...] = ()
    uploads: tuple[QueryVectors, ...] = ()
    user_id: str | None = None  # a user of the training interactions, whose learned vector models may start from

    @property
    def is_empty(self) -> bool:
        return not self.rows and not self.uploads

    def like(self, row: int) -> "History":
        """Newest last; liking an item again moves it to the end."""
        return dataclasses.replace(self, rows=tuple(r for r in self.rows if r != row) + (int(row),))

    def upload(self, vectors: QueryVectors) -> "History":
        return dataclasses.replace(self, uploads=self.uploads + (vectors,))


def recency_weights(n: int, half_life: float) -> np.ndarray:
    """float64 (n,) weights for n items oldest first: the newest weighs 1, one half_life older weighs 1/2.

    half_life <= 0 weighs all alike. Positions, not seconds, so a profile without timestamps works the same.
    """
    if half_life <= 0:
        return np.ones(n)
    age = np.arange(n - 1, -1, -1, dtype=np.float64)
    return 0.5 ** (age / half_life)


@dataclass(frozen=True)
class Scored:
    """A model's scores over the whole catalog: scores (n,) float32, valid (n,) bool.

    `contributions_of(rows)` splits those rows' scores into (len(rows), len(parts)) float32 that
    sum to the scores: per modality, per model of a blend, or one part for a baseline.
    """

    scores: np.ndarray
    valid: np.ndarray
    parts: tuple[str, ...]
    contributions_of: Callable[[np.ndarray], np.ndarray]


def single_part(scores: np.ndarray, part: str, valid: np.ndarray | None = None) -> Scored:
    scores = np.asarray(scores, dtype=np.float32)
    valid = np.ones(scores.shape, bool) if valid is None else valid
    return Scored(scores, valid, (part,), lambda rows: scores[np.asarray(rows, dtype=np.int64), None])


class Model(Protocol):
    """A recommender bound to one store: fit on interactions, then score any history."""

    name: str
    config: Any

    def fit(self, train: Interactions, *, progress: Progress = no_progress) -> None: ...

    def score(self, history: History, *, weights: Weights | None = None,
              mix: Mapping[str, float] | None = None) -> Scored: ...

    def arrays(self) -> dict[str, np.ndarray]: ...

    def load_arrays(self, arrays: Mapping[str, np.ndarray], old_to_new: np.ndarray, train: Interactions) -> None: ...


_MODELS: dict[str, type] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register_model(name: str, description: str) -> Callable[[type], type]:
    """Class decorator: register a recommender under `name`."""

    def wrap(cls: type) -> type:
        cls.name = name
        _MODELS[name] = cls
        _DESCRIPTIONS[name] = description
        return cls

    return wrap


def list_models() -> dict[str, str]:
    """Registered model names with a one-line description each."""
    return dict(_DESCRIPTIONS)


def get_model(name: str) -> type:
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownNameError(f"unknown model {name!r}. Available: {', '.join(sorted(_MODELS))}") from None


def make_model(name: str, store, config: Any = None):
    """A fresh, untrained model: config is None (defaults), the model's config dataclass, or a dict of its options."""
    cls = get_model(name)
    if config is None:
        config = cls.config_class()
    elif isinstance(config, Mapping):
        config = config_from_dict(cls.config_class, config)
    elif not isinstance(config, cls.config_class):
        raise ModelError(f"model {name!r} takes a {cls.config_class.__name__}, got {type(config).__name__}")
    return cls(store, config)


def config_to_dict(config: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def _plain(value: Any) -> Any:
    if isinstance(value, Weights):
        return value.as_dict()
    if dataclasses.is_dataclass(value):
        return config_to_dict(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a frozen config dataclass from config_to_dict output; unknown keys are a ModelError."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ModelError(f"{cls.__name__} has no option(s) {sorted(unknown)}; options: {', '.join(fields)}")
    values = {}
    for key, value in data.items():
        default = getattr(cls(), key)
        values[key] = Weights(**value) if isinstance(default, Weights) else value
    return cls(**values)


def remap_items(arr: np.ndarray, old_to_new: np.ndarray, n_new: int, fill: float = 0.0) -> np.ndarray:
    """Rows of a per-item array (n_old, ...) moved to a new store's rows; rows new to the store get `fill`.

    old_to_new (n_old,) int64 gives each saved item's row in the store now, -1 if it left.
    """
    out = np.full((n_new, *arr.shape[1:]), fill, dtype=arr.dtype)
    kept = old_to_new >= 0
    out[old_to_new[kept]] = arr[kept]
    return out
