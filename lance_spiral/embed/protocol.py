"""What every embedder here offers, and the checks and helpers they share.

An embedder has ``dim`` and ``embed(list[str]) -> float32[n, dim]``; the approximator, the
Bedrock client and :class:`~lance_spiral.embed.cache.CachedEmbedder` all do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

from lance_spiral.errors import DTypeError, EmptyInputError

__all__ = ["Embedder", "Lazy", "check_texts"]

T = TypeVar("T")


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds a list of texts into unit-norm (or raw) float32 rows."""

    @property
    def dim(self) -> int:
        """Embedding width."""
        ...

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """``float32[len(texts), dim]`` in input order."""
        ...


def check_texts(texts: Any, *, name: str = "texts", allow_empty: bool = False) -> list[str]:
    """Validate a list of strings and return it as a list.

    Raises:
        DTypeError: ``texts`` is a bare string, not a sequence, or holds a non-string.
        EmptyInputError: The list is empty (unless ``allow_empty``).
    """
    if isinstance(texts, str | bytes) or not isinstance(texts, Sequence):
        raise DTypeError(f"{name} must be a list of str, got {type(texts).__name__}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise DTypeError(f"{name}[{i}] must be str, got {type(t).__name__}")
    if not out and not allow_empty:
        raise EmptyInputError(f"{name} is empty: pass at least one text")
    return out


class Lazy(Generic[T]):
    """A value built on first use, exactly once even when threads race for it.

    The framework adapters build their embedder (a model load, a Bedrock client with its own
    rate limiter) lazily; two threads asking at once must share one instance, not build two.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        """The value, built by the factory on the first call."""
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._factory()
                value = self._value
        return value

    @property
    def built(self) -> bool:
        """Whether the value exists yet."""
        return self._value is not None
