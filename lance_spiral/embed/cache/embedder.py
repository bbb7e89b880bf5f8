"""Put a :class:`~lance_spiral.embed.cache.TieredCache` in front of any embedder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from lance_spiral._validation import as_vectors
from lance_spiral.embed.cache.tiers import TieredCache
from lance_spiral.embed.protocol import check_texts
from lance_spiral.errors import DimensionError, InvalidParameterError, NotFittedError

__all__ = ["CachedEmbedder", "cached_embed"]


def cached_embed(
    texts: Any, cache: TieredCache | None, fetch: Callable[[list[str]], Any]
) -> npt.NDArray[np.float32]:
    """Embed ``texts`` through ``cache``: dedupe, look up, fetch only the misses, store them.

    Args:
        texts: list of str (non-empty).
        cache: The cache, or ``None`` to fetch everything (still deduplicated).
        fetch: Embeds a list of unique texts, returning float ``[len, dim]``.

    Returns:
        float32 ``[len(texts), dim]`` in input order.

    Raises:
        DTypeError: Non-string input.
        EmptyInputError: Empty list.
    """
    items = check_texts(texts)
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(t, len(index)) for t in items), dtype=np.int64,
                          count=len(items))
    unique = list(index)
    if cache is None:
        return as_vectors(fetch(unique), name="embeddings")[inverse]
    vecs, missing = cache.get_many(unique)
    if missing.size:
        miss_texts = [unique[i] for i in missing]
        fresh = as_vectors(fetch(miss_texts), name="embeddings")
        if fresh.shape[0] != len(miss_texts):
            raise DimensionError(
                f"embedder returned {fresh.shape[0]} rows for {len(miss_texts)} texts")
        cache.put_many(miss_texts, fresh)
        if vecs.shape[1] != fresh.shape[1]:  # the cache had never seen a vector: all missed
            vecs = np.zeros((len(unique), fresh.shape[1]), dtype=np.float32)
        vecs[missing] = fresh
    return vecs[inverse]


class CachedEmbedder:
    """Put a :class:`TieredCache` in front of any embedder with ``.embed(list[str])``.

    Args:
        embedder: Anything with ``embed(list[str]) -> float[n, d]`` (and ideally ``dim``).
        cache: The cache; built in memory from ``model`` when omitted.
        model: Model key for a new cache (defaults to the embedder's ``cache_key`` or class name).

    Raises:
        InvalidParameterError: ``embedder`` has no ``embed`` method.
    """

    def __init__(self, embedder: Any, cache: TieredCache | None = None, *,
                 model: str | None = None) -> None:
        if not callable(getattr(embedder, "embed", None)):
            raise InvalidParameterError(f"{type(embedder).__name__} has no embed(list[str]) method")
        self.embedder = embedder
        key = model or getattr(embedder, "cache_key", None) or type(embedder).__name__
        self.cache = cache if cache is not None else TieredCache(str(key))

    @property
    def dim(self) -> int:
        """Embedding width (from the embedder, else from the cache)."""
        d = getattr(self.embedder, "dim", None) or self.cache.dim
        if d is None:
            raise NotFittedError("dimension unknown until the first embed() call")
        return int(d)

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Embed through the cache; only cache misses reach the wrapped embedder."""
        return cached_embed(texts, self.cache, self.embedder.embed)

    async def aembed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """:meth:`embed` in a worker thread."""
        import asyncio

        return await asyncio.to_thread(self.embed, texts)

    def close(self) -> None:
        """Flush the cache's disk tier."""
        self.cache.close()
