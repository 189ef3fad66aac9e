"""The one exception tree of mmrec: every error a user can cause is an MMRecError."""

from __future__ import annotations


class MMRecError(Exception):
    """Base of every error mmrec raises on purpose."""


class CatalogError(MMRecError):
    """A catalog as a whole cannot be read (not a CSV, no `id` column, unsafe archive...)."""


class EncoderError(MMRecError):
    """An encoder cannot be built or cannot encode its input."""


class EncoderUnavailable(EncoderError):
    """An encoder's weights cannot be had here (offline hub download, missing checkpoint)."""


class UnknownNameError(MMRecError, KeyError):
    """A registry lookup with a name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class FusionError(MMRecError):
    """Bad fusion input: weights, strategy parameters or similarity shapes."""


class QueryError(MMRecError):
    """A query that cannot be answered (empty, unreadable media, unknown item)."""


class StoreError(MMRecError):
    """A store that is missing, incomplete, tampered with or of another version."""


class ReadOnlyStoreError(StoreError):
    """A change asked of a store marked read-only (STORE/READONLY)."""


class AccessError(MMRecError):
    """An action the session's role may not take, a failed login, or a quota reached."""


class EvaluationError(MMRecError):
    """Queries or qrels that cannot be evaluated."""


class MediaError(MMRecError):
    """An image or audio file that cannot be decoded safely."""


class DatasetError(MMRecError):
    """A public data set that cannot be had here (its package is not installed, its files are missing)."""
