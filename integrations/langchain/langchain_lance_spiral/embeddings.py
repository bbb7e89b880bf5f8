"""LangChain ``Embeddings`` for the lance-spiral approximator and for Amazon Titan via Bedrock."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from lance_spiral.errors import InvalidInputError

__all__ = ["ApproximatorEmbeddings", "BedrockEmbeddings"]


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, list | tuple):
        raise InvalidInputError(f"texts must be a list of strings, got {type(texts).__name__}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InvalidInputError(f"texts must be strings; item {bad[0]} is {texts[bad[0]]!r}")
    return list(texts)


def _to_lists(vectors: Any) -> list[list[float]]:
    return np.asarray(vectors, dtype=np.float32).astype(np.float64).tolist()  # type: ignore[no-any-return]


class _QueryAndAsync:
    """``embed_query`` and the async pair, on top of a subclass's ``embed_documents``.

    Async calls run in a worker thread (onnxruntime frees the GIL; boto3 is synchronous).
    """

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def embed_query(self, text: str) -> list[float]:
        """Embed one query text."""
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a string, got {type(text).__name__}")
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return await asyncio.to_thread(self.embed_query, text)


class ApproximatorEmbeddings(_QueryAndAsync, BaseModel, Embeddings):
    """Embeddings from a lance-spiral approximator (distilled DeepSets model, ONNX on CPU).

    The vectors live in the teacher's space (all-MiniLM-L6-v2 by default), so approximator
    queries can search teacher-embedded documents. Vectors are unit-norm.

    Args:
        model_dir: Folder written by ``lance-spiral distill`` (``Approximator.save``); the default
            model folder (``build/approximator``, ``make approximator``) when None.
        batch_size: Texts per inference batch.

    Example:
        >>> emb = ApproximatorEmbeddings(model_dir="build/approximator")  # doctest: +SKIP
        >>> len(emb.embed_query("hello"))  # doctest: +SKIP
        384
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    model_dir: str | None = None
    batch_size: int = Field(default=256, ge=1)

    _model: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _approximator(self) -> Any:
        if self._model is None:
            from lance_spiral.embed.approximator import Approximator, default_model_dir

            path = Path(self.model_dir) if self.model_dir is not None else default_model_dir()
            with self._lock:
                if self._model is None:
                    self._model = Approximator.load(path)
        return self._model

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self._approximator().dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of texts (input order kept)."""
        texts = _check_texts(texts)
        if not texts:
            return []
        model = self._approximator()
        out = [model.embed(texts[i : i + self.batch_size]) for i in range(0, len(texts),
                                                                          self.batch_size)]
        return _to_lists(np.concatenate(out, axis=0))


class BedrockEmbeddings(_QueryAndAsync, BaseModel, Embeddings):
    """Amazon Titan embeddings through lance-spiral's Bedrock client (rate limits, retries, cache).

    Args:
        model_id: Bedrock model id (``amazon.titan-embed-text-v2:0`` or ``-v1``).
        endpoint_url: Custom endpoint (e.g. a local test server); the AWS default when None.
        region_name: AWS region.
        cache_dir: Enables the on-disk cache tier when set.
        client_kwargs: Further keyword arguments for ``lance_spiral.embed.BedrockEmbedder``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    model_id: str = "amazon.titan-embed-text-v2:0"
    endpoint_url: str | None = None
    region_name: str | None = None
    cache_dir: str | None = None
    client_kwargs: dict[str, Any] = Field(default_factory=dict)

    _client: Any = PrivateAttr(default=None)

    def _embedder(self) -> Any:
        if self._client is None:
            from lance_spiral.embed import BedrockEmbedder

            self._client = BedrockEmbedder(
                self.model_id,
                endpoint_url=self.endpoint_url,
                region_name=self.region_name,
                cache_dir=self.cache_dir,
                **self.client_kwargs,
            )
        return self._client

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of texts (input order kept)."""
        texts = _check_texts(texts)
        if not texts:
            return []
        return _to_lists(self._embedder().embed(texts))
