"""LangChain ``Embeddings`` for the lance-spiral approximator and for Amazon Titan via Bedrock."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from lance_spiral.embed import BedrockEmbedder
from lance_spiral.embed.approximator import Approximator, shared_approximator
from lance_spiral.embed.protocol import Lazy, check_texts

__all__ = ["ApproximatorEmbeddings", "BedrockEmbeddings"]


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
        return self.embed_documents(check_texts([text], name="text"))[0]

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

    def _approximator(self) -> Approximator:
        return shared_approximator(self.model_dir)

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self._approximator().dim)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of texts (input order kept)."""
        texts = check_texts(texts, allow_empty=True)
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

    _client: Lazy[BedrockEmbedder] = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Prepare the client, built once on first use (shared by threads)."""
        self._client = Lazy(lambda: BedrockEmbedder(
            self.model_id,
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            cache_dir=self.cache_dir,
            **self.client_kwargs,
        ))

    def _embedder(self) -> BedrockEmbedder:
        return self._client.get()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a list of texts (input order kept)."""
        texts = check_texts(texts, allow_empty=True)
        if not texts:
            return []
        return _to_lists(self._embedder().embed(texts))
