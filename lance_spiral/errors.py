"""One exception hierarchy for every public entry point of lance-spiral.

Every error raised on purpose by the library derives from :class:`LanceSpiralError`, and also
from the matching built-in exception (``ValueError``, ``TypeError``, ``KeyError``...) so that
callers that already catch those keep working.
"""

from __future__ import annotations

__all__ = [
    "CorruptDataError",
    "DTypeError",
    "DimensionError",
    "EmbeddingError",
    "EmptyInputError",
    "FormatVersionError",
    "InvalidInputError",
    "InvalidParameterError",
    "LanceSpiralError",
    "MissingDependencyError",
    "NonFiniteError",
    "NotFittedError",
    "NotFoundError",
    "RemoteServiceError",
    "TableError",
    "UnknownCodecError",
]


class LanceSpiralError(Exception):
    """Base class of every error lance-spiral raises on purpose."""


class InvalidInputError(LanceSpiralError, ValueError):
    """An argument's value is unusable (the message names the argument and the problem)."""


class DimensionError(InvalidInputError):
    """Vectors have the wrong number of dimensions, or the wrong shape."""


class NonFiniteError(InvalidInputError):
    """Input contains NaN or infinite values."""


class EmptyInputError(InvalidInputError):
    """A batch that must hold at least one item is empty."""


class DTypeError(LanceSpiralError, TypeError):
    """Input has a data type the function cannot accept."""


class InvalidParameterError(LanceSpiralError, ValueError):
    """A configuration parameter (bits, m, k, nprobes...) is out of range or inconsistent."""


class UnknownCodecError(LanceSpiralError, ValueError):
    """A codec name or spec is not registered."""


class FormatVersionError(LanceSpiralError, ValueError):
    """Serialised data was written by a format version this build cannot read."""


class CorruptDataError(LanceSpiralError, ValueError):
    """Stored codes, codec parameters or metadata are truncated or corrupt."""


class NotFittedError(LanceSpiralError, RuntimeError):
    """A codec or model was used before ``fit`` (or ``load``)."""


class NotFoundError(LanceSpiralError, KeyError):
    """A file, table, id or version does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class TableError(LanceSpiralError):
    """A compressed-table operation failed (schema mismatch, concurrent commit, ...)."""


class EmbeddingError(LanceSpiralError):
    """An embedder failed to produce embeddings."""


class RemoteServiceError(EmbeddingError):
    """A remote embedding service returned an error that retries did not resolve."""


class MissingDependencyError(LanceSpiralError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
